//! Small statistics helpers with bounded memory: a log-linear histogram for latency
//! percentiles (so a run of ten million transactions keeps a few KiB, not a vector).

/// Values in µs, bucketed with 1/64 relative precision (about 1.6 %).
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

const SUB_BITS: u32 = 6;
const SUB: u64 = 1 << SUB_BITS;

fn bucket_of(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros() - SUB_BITS;
    let mantissa = (v >> exp) - SUB;
    ((exp + 1) as u64 * SUB + mantissa) as usize
}

fn lower_bound_of(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let exp = b / SUB - 1;
    let mantissa = b % SUB;
    (SUB + mantissa) << exp
}

impl Histogram {
    pub fn record(&mut self, v: u64) {
        let b = bucket_of(v);
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += 1;
        self.total += 1;
        self.max = self.max.max(v);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value at quantile `q` in [0, 1] (the lower bound of its bucket, capped by
    /// the maximum seen); 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((q * self.total as f64).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return lower_bound_of(b).min(self.max);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::default();
        for v in 1..=50 {
            h.record(v);
        }
        assert_eq!(h.quantile(0.5), 25);
        assert_eq!(h.quantile(1.0), 50);
        assert_eq!(h.quantile(0.0), 1);
    }

    #[test]
    fn large_values_are_within_two_percent() {
        let mut h = Histogram::default();
        for v in 0..100_000u64 {
            h.record(1000 + v * 7);
        }
        for q in [0.5, 0.9, 0.99] {
            let exact = 1000 + ((q * 100_000.0) as u64 - 1) * 7;
            let got = h.quantile(q);
            let err = (got as f64 - exact as f64).abs() / exact as f64;
            assert!(err < 0.02, "q {q}: {got} vs {exact}");
        }
    }

    #[test]
    fn buckets_round_trip() {
        for v in [0u64, 1, 63, 64, 65, 127, 128, 1000, 123_456_789] {
            let b = bucket_of(v);
            assert!(lower_bound_of(b) <= v);
            assert!(bucket_of(lower_bound_of(b)) == b);
        }
    }
}
