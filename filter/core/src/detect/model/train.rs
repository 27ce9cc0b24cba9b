//! The trainer of the learned detector: logistic regression with AdaGrad and L2 over the
//! [`super::features`] of each window, deterministic (fixed seed, fixed order, single thread).
//!
//! A long positive text is a bag of windows of which only some carry the instruction: each epoch
//! trains on its highest-scoring window (multiple-instance learning). A negative text trains on
//! every window (up to [`MAX_NEG_WINDOWS`]): no window of it may score high. Classes are weighted
//! so that positives and negatives weigh the same in total per channel.

use super::features::{normalise, window_features, windows, BUCKETS};
use super::{encode, CHANNELS};

/// Most windows of one negative text used in training.
pub const MAX_NEG_WINDOWS: usize = 6;

/// One training text.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Raw text (normalised here).
    pub text: String,
    /// Channel index ([`super::channel_index`]).
    pub channel: usize,
    /// True for "instructs the assistant".
    pub positive: bool,
}

/// Hyper-parameters.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Passes over the data.
    pub epochs: usize,
    /// AdaGrad learning rate.
    pub learning_rate: f32,
    /// L2 penalty per update of a touched weight.
    pub l2: f32,
    /// Shuffle seed.
    pub seed: u64,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            epochs: 6,
            learning_rate: 0.2,
            l2: 1e-6,
            seed: 17,
        }
    }
}

/// Float weights before quantisation.
#[derive(Debug, Clone)]
pub struct Trained {
    /// One weight per bucket.
    pub weights: Vec<f32>,
    /// One bias per channel.
    pub bias: [f32; CHANNELS],
}

/// SplitMix64: a tiny deterministic generator for the shuffle.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

struct Prepared {
    text: String,
    windows: Vec<(usize, usize)>,
    channel: usize,
    positive: bool,
}

fn logit(w: &[f32], bias: f32, feats: &[(u32, f32)], norm: f32) -> f32 {
    if norm <= 0.0 {
        return bias;
    }
    let mut dot = 0.0f32;
    for &(b, c) in feats {
        dot += w[b as usize] * c;
    }
    bias + dot / norm
}

/// Trains on `samples`.
pub fn train(samples: &[Sample], p: Params) -> Trained {
    let prepared: Vec<Prepared> = samples
        .iter()
        .map(|s| {
            let text = normalise(&s.text);
            let mut wins = windows(&text);
            if !s.positive && wins.len() > MAX_NEG_WINDOWS {
                wins.truncate(MAX_NEG_WINDOWS);
            }
            Prepared {
                text,
                windows: wins,
                channel: s.channel.min(CHANNELS - 1),
                positive: s.positive,
            }
        })
        .collect();
    // Class weights per channel: total positive weight = total negative weight.
    let mut pos = [0usize; CHANNELS];
    let mut neg = [0usize; CHANNELS];
    for s in &prepared {
        if s.positive {
            pos[s.channel] += 1;
        } else {
            neg[s.channel] += s.windows.len().max(1);
        }
    }
    let cw = |s: &Prepared| -> f32 {
        let (a, b) = (pos[s.channel] as f32, neg[s.channel] as f32);
        if a == 0.0 || b == 0.0 {
            return 1.0;
        }
        let total = a + b;
        if s.positive {
            total / (2.0 * a)
        } else {
            total / (2.0 * b)
        }
    };
    let mut w = vec![0.0f32; BUCKETS];
    let mut g2 = vec![0.0f32; BUCKETS];
    let mut bias = [0.0f32; CHANNELS];
    let mut bg2 = [0.0f32; CHANNELS];
    let mut order: Vec<usize> = (0..prepared.len()).collect();
    let mut rng = Rng(p.seed);
    let mut feats = Vec::new();
    let mut best_feats = Vec::new();
    for _ in 0..p.epochs {
        for i in (1..order.len()).rev() {
            let j = (rng.next() % (i as u64 + 1)) as usize;
            order.swap(i, j);
        }
        for &k in &order {
            let s = &prepared[k];
            let weight = cw(s);
            let y = if s.positive { 1.0 } else { 0.0 };
            let mut step = |feats: &[(u32, f32)], norm: f32, w: &mut [f32], bias: &mut [f32]| {
                let z = logit(w, bias[s.channel], feats, norm);
                let g = weight * (super::sigmoid(z) - y);
                if norm > 0.0 {
                    for &(b, c) in feats {
                        let b = b as usize;
                        let gi = g * c / norm + p.l2 * w[b];
                        g2[b] += gi * gi;
                        w[b] -= p.learning_rate * gi / (g2[b].sqrt() + 1e-8);
                    }
                }
                bg2[s.channel] += g * g;
                bias[s.channel] -= p.learning_rate * g / (bg2[s.channel].sqrt() + 1e-8);
            };
            if s.positive {
                // The window that currently scores highest carries the label.
                let mut best = (f32::NEG_INFINITY, 0.0f32);
                for &(a, b) in &s.windows {
                    let n = window_features(&s.text[a..b], &mut feats);
                    let z = logit(&w, bias[s.channel], &feats, n);
                    if z > best.0 {
                        best = (z, n);
                        std::mem::swap(&mut feats, &mut best_feats);
                    }
                }
                if best.0.is_finite() {
                    step(&best_feats, best.1, &mut w, &mut bias);
                }
            } else {
                for &(a, b) in &s.windows {
                    let n = window_features(&s.text[a..b], &mut feats);
                    step(&feats, n, &mut w, &mut bias);
                }
            }
        }
    }
    Trained { weights: w, bias }
}

impl Trained {
    /// Quantises to i8 with one scale and encodes the blob.
    pub fn to_blob(&self) -> Vec<u8> {
        // Scale at the 99.9th percentile of |w| (the few larger weights saturate at ±127):
        // a single outlier would otherwise push most weights to zero.
        let mut mags: Vec<f32> = self.weights.iter().map(|w| w.abs()).collect();
        mags.sort_by(f32::total_cmp);
        let at = mags.len().saturating_sub(1 + mags.len() / 1000);
        let max = mags.get(at).copied().unwrap_or(0.0);
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        let q: Vec<i8> = self
            .weights
            .iter()
            .map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8)
            .collect();
        encode(&q, scale, self.bias)
    }
}
