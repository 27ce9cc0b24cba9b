//! The learned detector (`model.v1`): "is this text instructing the assistant?".
//!
//! A logistic regression over hashed n-grams ([`features`]) with one shared weight vector and one
//! bias per channel (user prompts, tool results and tool definitions have different priors).
//! The weights ship in the crate as a compact blob (`weights.bin`, written by the trainer in
//! [`train`]): i8-quantised weights, one f32 scale, the per-channel biases and an FNV-1a checksum.
//! A blob that does not parse or whose checksum does not match is a compile error of the detector
//! (the plugin config is refused), never a panic.
//!
//! A text is scored on every window of its normalised form; its score is the highest window
//! score. At most [`MAX_WINDOWS`] windows are read: past that bound the score of the windows read
//! is returned with `complete = false`, and the caller flags the text.

pub mod features;
pub mod train;

use std::borrow::Cow;
use std::fmt;

use features::{fnv1a, normalise, window_features, windows, BUCKETS, BUCKET_BITS};

use super::Channel;

/// The shipped weights.
static WEIGHTS: &[u8] = include_bytes!("weights.bin");

/// Blob magic.
pub const MAGIC: &[u8; 4] = b"LFWM";
/// Blob format version.
pub const VERSION: u32 = 1;
/// Number of channel biases in the blob (user, tool_result, tool_definition).
pub const CHANNELS: usize = 3;
const HEADER: usize = 4 + 4 + 4 + 4 + 4 * CHANNELS;
/// Total blob length.
pub const BLOB_LEN: usize = HEADER + BUCKETS + 8;
/// Most windows scored per text (256 KiB of normalised text at a 256-byte stride).
pub const MAX_WINDOWS: usize = 1024;
/// Shortest normalised text the model scores: a few bytes ("fine", "ok") carry too few features
/// to judge (their score is mostly the bias); an instruction needs a verb and an object.
pub const MIN_SCORED_BYTES: usize = 20;

/// Index of a channel's bias, for the channels the model scores.
pub fn channel_index(c: Channel) -> Option<usize> {
    match c {
        Channel::User => Some(0),
        Channel::ToolResult => Some(1),
        Channel::ToolDefinition => Some(2),
        _ => None,
    }
}

/// Why a weights blob was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobError(pub String);

impl fmt::Display for BlobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "model weights: {}", self.0)
    }
}

impl std::error::Error for BlobError {}

/// A loaded model (the built-in one borrows the blob: no copy of the weights per VM).
#[derive(Clone)]
pub struct Model {
    weights: Cow<'static, [u8]>,
    scale: f32,
    bias: [f32; CHANNELS],
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("scale", &self.scale)
            .field("bias", &self.bias)
            .finish_non_exhaustive()
    }
}

/// The score of one text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextScore {
    /// Probability-like score in [0, 1]: the highest window score.
    pub score: f32,
    /// False when the text had more than [`MAX_WINDOWS`] windows and only those were scored.
    pub complete: bool,
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn read_f32(b: &[u8], at: usize) -> Option<f32> {
    read_u32(b, at).map(f32::from_bits)
}

/// Serialises a model (the trainer's output format).
pub fn encode(weights: &[i8], scale: f32, bias: [f32; CHANNELS]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOB_LEN);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&BUCKET_BITS.to_le_bytes());
    out.extend_from_slice(&scale.to_le_bytes());
    for b in bias {
        out.extend_from_slice(&b.to_le_bytes());
    }
    out.extend(weights.iter().map(|&w| w as u8));
    let sum = fnv1a(0xcbf2_9ce4_8422_2325, &out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

impl Model {
    /// The model compiled into the crate.
    pub fn builtin() -> Result<Model, BlobError> {
        Model::from_blob(WEIGHTS)
    }

    /// Parses and checks a blob.
    pub fn from_blob(blob: &'static [u8]) -> Result<Model, BlobError> {
        Model::parse(Cow::Borrowed(blob))
    }

    /// Parses and checks an owned blob (the trainer's evaluation).
    pub fn from_vec(blob: Vec<u8>) -> Result<Model, BlobError> {
        Model::parse(Cow::Owned(blob))
    }

    fn parse(cow: Cow<'static, [u8]>) -> Result<Model, BlobError> {
        let blob: &[u8] = &cow;
        if blob.len() != BLOB_LEN {
            return Err(BlobError(format!(
                "length {} (expected {BLOB_LEN})",
                blob.len()
            )));
        }
        if &blob[..4] != MAGIC {
            return Err(BlobError("bad magic".into()));
        }
        let body = &blob[..BLOB_LEN - 8];
        let mut sum = [0u8; 8];
        sum.copy_from_slice(&blob[BLOB_LEN - 8..]);
        if fnv1a(0xcbf2_9ce4_8422_2325, body) != u64::from_le_bytes(sum) {
            return Err(BlobError("checksum mismatch".into()));
        }
        let bad = || BlobError("truncated header".into());
        if read_u32(blob, 4).ok_or_else(bad)? != VERSION {
            return Err(BlobError("unknown version".into()));
        }
        if read_u32(blob, 8).ok_or_else(bad)? != BUCKET_BITS {
            return Err(BlobError(
                "bucket count differs from the feature code".into(),
            ));
        }
        let scale = read_f32(blob, 12).ok_or_else(bad)?;
        let mut bias = [0.0; CHANNELS];
        for (i, b) in bias.iter_mut().enumerate() {
            *b = read_f32(blob, 16 + 4 * i).ok_or_else(bad)?;
        }
        if !scale.is_finite() || bias.iter().any(|b| !b.is_finite()) {
            return Err(BlobError("non-finite scale or bias".into()));
        }
        Ok(Model {
            weights: cow,
            scale,
            bias,
        })
    }

    /// The logit of one window's features.
    fn logit(&self, feats: &[(u32, f32)], norm: f32, channel: usize) -> f32 {
        let mut dot = 0.0f32;
        for &(b, c) in feats {
            let w = self.weights.get(HEADER + b as usize).copied().unwrap_or(0) as i8;
            dot += f32::from(w) * c;
        }
        let x = if norm > 0.0 {
            dot * self.scale / norm
        } else {
            0.0
        };
        self.bias[channel] + x
    }

    /// Scores a text for a channel the model knows (`None` for the others, and for texts
    /// shorter than [`MIN_SCORED_BYTES`] once normalised).
    pub fn score(&self, text: &str, channel: Channel) -> Option<TextScore> {
        let ch = channel_index(channel)?;
        let norm_text = normalise(text);
        if norm_text.len() < MIN_SCORED_BYTES {
            return None;
        }
        let mut best = f32::NEG_INFINITY;
        let mut feats = Vec::new();
        let wins = windows(&norm_text);
        let complete = wins.len() <= MAX_WINDOWS;
        for &(a, b) in wins.iter().take(MAX_WINDOWS) {
            let slice = norm_text.get(a..b).unwrap_or("");
            let n = window_features(slice, &mut feats);
            best = best.max(self.logit(&feats, n, ch));
        }
        if !best.is_finite() {
            best = self.bias[ch];
        }
        Some(TextScore {
            score: sigmoid(best),
            complete,
        })
    }
}

/// The logistic function.
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

#[cfg(test)]
mod tests;
