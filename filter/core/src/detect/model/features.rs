//! Features of the learned detector: hashed character 3- and 5-grams and word 1- and 2-grams of
//! normalised text, in [`BUCKETS`] buckets.
//!
//! The same code runs in the trainer and in the filter, natively and in wasm: normalisation is NFKC,
//! lower case and collapsed whitespace; hashing is FNV-1a 64 (no seed, no platform-dependent
//! state). A text is cut into windows of [`WINDOW_BYTES`] bytes every [`STRIDE_BYTES`] bytes
//! (boundaries moved back to a character boundary) so that a long document is judged by its most
//! instruction-like part, not diluted by its length.

use unicode_normalization::UnicodeNormalization;

/// log2 of the number of buckets.
pub const BUCKET_BITS: u32 = 17;
/// Number of feature buckets (shared by all channels).
pub const BUCKETS: usize = 1 << BUCKET_BITS;
/// Window length in bytes of normalised text.
pub const WINDOW_BYTES: usize = 512;
/// Distance between window starts.
pub const STRIDE_BYTES: usize = 256;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a 64 of `bytes`, continuing from `h`.
pub fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// NFKC, lower case, every whitespace run collapsed to one space, trimmed.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.nfkc() {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        if c.is_ascii() {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Byte ranges of the windows of `text` (already normalised): every window starts and ends on a
/// character boundary, consecutive windows overlap by about half, together they cover the text.
pub fn windows(text: &str) -> Vec<(usize, usize)> {
    let n = text.len();
    let mut out = Vec::new();
    if n == 0 {
        return out;
    }
    let mut start = 0;
    loop {
        let mut end = (start + WINDOW_BYTES).min(n);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        if end <= start {
            // A window shorter than one character cannot happen with 512-byte windows; be safe.
            end = n;
        }
        out.push((start, end));
        if end >= n {
            break;
        }
        let mut next = start + STRIDE_BYTES;
        while next < n && !text.is_char_boundary(next) {
            next -= 1;
        }
        start = if next > start { next } else { end };
    }
    out
}

/// Tags keep the n-gram kinds apart in the hash space.
const TAG_C3: u64 = 0x3;
const TAG_C5: u64 = 0x5;
const TAG_W1: u64 = 0x11;
const TAG_W2: u64 = 0x12;

fn bucket(tag: u64, parts: &[&[u8]]) -> u32 {
    let mut h = fnv1a(FNV_OFFSET, &tag.to_le_bytes()[..1]);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h = fnv1a(h, &[0x1f]);
        }
        h = fnv1a(h, p);
    }
    // Fold the high bits in: FNV's low bits alone mix poorly for short keys.
    let h = h ^ (h >> 32) ^ (h >> 17);
    (h as u32) & (BUCKETS as u32 - 1)
}

/// The feature buckets of one window, with counts, sorted by bucket; and the L2 norm of the counts.
pub fn window_features(window: &str, out: &mut Vec<(u32, f32)>) -> f32 {
    let mut raw: Vec<u32> = Vec::with_capacity(window.len() * 3);
    // Character n-grams over a padded window (word edges at the ends count).
    let bytes = window.as_bytes();
    let mut starts: Vec<usize> = window.char_indices().map(|(i, _)| i).collect();
    starts.push(window.len());
    let nchars = starts.len() - 1;
    for k in [3usize, 5] {
        let tag = if k == 3 { TAG_C3 } else { TAG_C5 };
        if nchars >= k {
            for i in 0..=nchars - k {
                raw.push(bucket(tag, &[&bytes[starts[i]..starts[i + k]]]));
            }
        }
    }
    // Words: maximal runs of alphanumeric characters.
    let mut prev: Option<&str> = None;
    for w in window
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        raw.push(bucket(TAG_W1, &[w.as_bytes()]));
        if let Some(p) = prev {
            raw.push(bucket(TAG_W2, &[p.as_bytes(), w.as_bytes()]));
        }
        prev = Some(w);
    }
    raw.sort_unstable();
    out.clear();
    for b in raw {
        match out.last_mut() {
            Some((last, c)) if *last == b => *c += 1.0,
            _ => out.push((b, 1.0)),
        }
    }
    // Sub-linear counts (square root: exact in IEEE arithmetic, so identical native and wasm),
    // then the L2 norm.
    let mut sq = 0.0f32;
    for (_, c) in out.iter_mut() {
        *c = c.sqrt();
        sq += *c * *c;
    }
    sq.sqrt()
}

#[cfg(test)]
#[path = "features_tests.rs"]
mod tests;
