//! The generator's only source of randomness: ChaCha8 seeded from `--seed`, one independent stream
//! per purpose, so adding a draw in one place never shifts the values drawn in another.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// Which independent stream of the seed a draw comes from.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    /// Households, persons and their ground truth.
    Population = 1,
    /// Units (employers).
    Units = 2,
    /// Header variants, encodings and row order per file.
    Layout = 3,
    /// Which rows carry injected errors and how.
    Injection = 4,
    /// Survey and self registrations.
    Registrations = 5,
}

/// A seeded random number generator with the few draws the generator needs.
pub struct Rng(ChaCha8Rng);

impl Rng {
    /// The stream `stream` of seed `seed`, extended by `salt` (e.g. a file index).
    pub fn new(seed: u64, stream: Stream, salt: u64) -> Self {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        r.set_stream(((stream as u64) << 32) ^ salt);
        Rng(r)
    }

    /// A uniform integer in `0..n` (n > 0), without modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0);
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.0.next_u64();
            if v < zone {
                return v % n;
            }
        }
    }

    /// A uniform integer in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// An index drawn by weight.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| w as u64).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < w as u64 {
                return i;
            }
            x -= w as u64;
        }
        weights.len() - 1
    }

    /// One element of `(item, weight)` pairs, drawn by weight.
    pub fn pick_weighted<'a, T>(&mut self, items: &'a [(T, u32)]) -> &'a T {
        let total: u64 = items.iter().map(|(_, w)| *w as u64).sum();
        let mut x = self.below(total);
        for (t, w) in items {
            if x < *w as u64 {
                return t;
            }
            x -= *w as u64;
        }
        &items[items.len() - 1].0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_draws_and_streams_are_independent() {
        let a: Vec<u64> = { let mut r = Rng::new(7, Stream::Population, 0); (0..5).map(|_| r.below(1000)).collect() };
        let b: Vec<u64> = { let mut r = Rng::new(7, Stream::Population, 0); (0..5).map(|_| r.below(1000)).collect() };
        let c: Vec<u64> = { let mut r = Rng::new(7, Stream::Units, 0); (0..5).map(|_| r.below(1000)).collect() };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}

/// A small, fast, deterministic hasher (the Fx hash of rustc) for the generator's own maps,
/// whose keys are IDs and codes it made itself, so no HashDoS concern applies.
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds [`FxHasher`]s.
pub type FxBuild = std::hash::BuildHasherDefault<FxHasher>;
/// A HashMap with the Fx hash.
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
/// A HashSet with the Fx hash.
pub type FxHashSet<K> = std::collections::HashSet<K, FxBuild>;

/// The Fx hash of a string.
pub fn fx_hash(s: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.finish()
}
