//! Seeded random streams, one per purpose (DESIGN §4).
//!
//! Every run has one root seed. Each consumer of randomness (the network, the fault
//! plan of one node, the workload, one node's own draws) gets its own ChaCha8 stream,
//! seeded by hashing `(root seed, purpose)`. Streams never share draws, so adding a
//! message in one protocol cannot shift the crash times drawn for another: the same
//! seed gives the same fault schedule whatever the protocol (common random numbers).
//! The algorithm is named and pinned (ChaCha8), never `StdRng`, so a seed stays valid
//! across versions of `rand`.

use rand::{RngExt, SeedableRng};
pub use rand_chacha::ChaCha8Rng as StreamRng;

/// SplitMix64's finaliser: a cheap, well-mixed 64-bit permutation.
pub fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a over bytes: stable across platforms and versions, used to name streams.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

/// The stream for `purpose` (e.g. `"network"`, `"faults/tm"`, `"node/rm2"`).
pub fn stream(root_seed: u64, purpose: &str) -> StreamRng {
    let mut key = [0u8; 32];
    let mut state = mix64(root_seed ^ fnv1a(purpose.as_bytes()));
    for chunk in key.chunks_mut(8) {
        state = mix64(state);
        chunk.copy_from_slice(&state.to_le_bytes());
    }
    StreamRng::from_seed(key)
}

/// A uniform draw in `[0, 1)` with 53 bits of precision.
pub fn unit(rng: &mut StreamRng) -> f64 {
    (rng.random::<u64>() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Bernoulli draw; `p <= 0` never draws (so fault-free runs consume no randomness).
pub fn chance(rng: &mut StreamRng, p: f64) -> bool {
    p > 0.0 && unit(rng) < p
}

/// An exponential draw with the given mean (µs), rounded to whole µs.
pub fn exponential_us(rng: &mut StreamRng, mean_us: f64) -> u64 {
    // 1 - unit() is in (0, 1], so ln() is finite.
    let u = 1.0 - unit(rng);
    // libm's log: bit-identical on every platform (std's ln may differ in the last bit).
    (-libm::log(u) * mean_us).round() as u64
}

/// A uniform draw in `[lo, hi]` (µs).
pub fn uniform_us(rng: &mut StreamRng, lo: u64, hi: u64) -> u64 {
    if hi <= lo {
        lo
    } else {
        rng.random_range(lo..=hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a1: u64 = stream(7, "network").random();
        let a2: u64 = stream(7, "network").random();
        let b: u64 = stream(7, "faults/tm").random();
        let c: u64 = stream(8, "network").random();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }

    #[test]
    fn chance_of_zero_draws_nothing() {
        let mut r = stream(1, "x");
        let mut fresh = stream(1, "x");
        assert!(!chance(&mut r, 0.0));
        assert_eq!(r.random::<u64>(), fresh.random::<u64>());
    }

    #[test]
    fn exponential_mean_is_close() {
        let mut r = stream(3, "exp");
        let n = 20_000;
        let total: u64 = (0..n).map(|_| exponential_us(&mut r, 1000.0)).sum();
        let mean = total as f64 / n as f64;
        assert!((mean - 1000.0).abs() < 30.0, "mean {mean}");
    }
}
