//! The trace digest: a stable 64-bit hash of the ordered event stream.
//!
//! It uses a fixed multiply-rotate mix (no random keys, unlike std's `DefaultHasher`
//! whose algorithm may change), so the same run gives the same digest every time.

use std::hash::Hasher;

#[derive(Clone, Debug)]
pub struct Digest {
    h: u64,
}

const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl Default for Digest {
    fn default() -> Self {
        Digest {
            h: 0x2545_f491_4f6c_dd1d,
        }
    }
}

impl Digest {
    pub fn value(&self) -> u64 {
        crate::rng::mix64(self.h)
    }
}

impl Hasher for Digest {
    fn finish(&self) -> u64 {
        self.value()
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.write_u64(u64::from_le_bytes(w) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u64(&mut self, word: u64) {
        self.h = (self.h.rotate_left(5) ^ word).wrapping_mul(K);
    }

    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.write_u64(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    fn write_i64(&mut self, i: i64) {
        self.write_u64(i as u64);
    }
    fn write_isize(&mut self, i: isize) {
        self.write_u64(i as u64);
    }
}
