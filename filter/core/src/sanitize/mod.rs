//! Sanitise and decode (DESIGN §3.2). Additive: the original text is always scanned, and every
//! normalised or decoded form is an extra [`Variant`] next to it, never a replacement.
//!
//! - [`normalize`]: strip invisibles/bidi/tags/variation selectors, NFKC, confusable skeleton for
//!   mixed-script words. Idempotent (property-tested).
//! - tag characters are decoded back to ASCII (the smuggled payload) as their own variant;
//! - strict span decoding ([`decode`]) of base64/base32/hex/percent/HTML/escapes/rot13, depth ≤
//!   [`MAX_DEPTH`], at most [`Limits::max_decoded_bytes`] decoded bytes per text.
//!
//! Smuggling signals become [`UnicodeSignal`]s; the detector turns them into findings.

pub mod decode;
pub mod unicode;

use unicode_normalization::UnicodeNormalization;

pub use decode::Encoding;

/// Maximum decoding depth (a decoded variant may itself be decoded, up to this many layers).
pub const MAX_DEPTH: u8 = 3;
/// Default byte budget for decoded variants of one text.
pub const DEFAULT_MAX_DECODED_BYTES: usize = 64 * 1024;
/// At most this many variants per text.
const MAX_VARIANTS: usize = 24;

/// Where a variant came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VariantKind {
    /// The text as received.
    Original,
    /// Invisibles stripped, NFKC, confusable skeleton.
    Normalized,
    /// ASCII payload decoded from Unicode tag characters.
    TagPayload,
    /// Decoded span(s) of the given encoding, at the given depth (1..=3).
    Decoded(Encoding, u8),
}

impl VariantKind {
    /// Short provenance label, e.g. `original`, `decoded:base64:1`.
    pub fn label(self) -> String {
        match self {
            VariantKind::Original => "original".to_owned(),
            VariantKind::Normalized => "normalized".to_owned(),
            VariantKind::TagPayload => "tag_payload".to_owned(),
            VariantKind::Decoded(e, d) => format!("decoded:{}:{d}", e.as_str()),
        }
    }
}

/// One text to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    /// Provenance.
    pub kind: VariantKind,
    /// The text.
    pub text: String,
}

/// A smuggling signal found by the sanitiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalKind {
    /// Unicode tag characters outside a flag sequence.
    TagSmuggling,
    /// Bidi override/isolate controls (or embeddings outside RTL text).
    BidiControl,
    /// Zero-width or other invisible characters inside Latin text, or in runs.
    Invisible,
    /// A word mixing Latin with look-alike letters of another script.
    MixedScriptConfusable,
}

/// A signal with its byte span in the original text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnicodeSignal {
    /// What.
    pub kind: SignalKind,
    /// Byte offset in the original (or, for confusables, the NFKC) text.
    pub offset: usize,
    /// Byte length.
    pub len: usize,
}

/// Limits for decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total decoded bytes kept per text.
    pub max_decoded_bytes: usize,
    /// Maximum decoding depth (≤ [`MAX_DEPTH`]).
    pub max_depth: u8,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_decoded_bytes: DEFAULT_MAX_DECODED_BYTES,
            max_depth: MAX_DEPTH,
        }
    }
}

/// The result of sanitising one text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sanitized {
    /// The original first, then normalised and decoded variants (deduplicated).
    pub variants: Vec<Variant>,
    /// Smuggling signals.
    pub signals: Vec<UnicodeSignal>,
}

/// Strips invisible, bidi, tag and variation-selector characters, applies NFKC and the
/// confusable skeleton to mixed-script words. Idempotent.
pub fn normalize(text: &str) -> String {
    normalize_with_span(text).0
}

fn normalize_with_span(text: &str) -> (String, Option<(usize, usize)>) {
    // ASCII is a fixed point: nothing to strip, NFKC leaves it alone and the skeleton only
    // rewrites words with letters of another script.
    if text.is_ascii() {
        return (text.to_owned(), None);
    }
    normalize_chars(text)
}

/// [`normalize_with_span`] without the ASCII shortcut.
fn normalize_chars(text: &str) -> (String, Option<(usize, usize)>) {
    let mut cur: String = text.chars().filter(|&c| !unicode::is_stripped(c)).collect();
    // NFKC can expose new confusables and the skeleton can enable new compositions; iterate to a
    // fixed point (two rounds suffice in practice, four bound the work).
    let mut first_span = None;
    for _ in 0..4 {
        let nfkc: String = cur.nfkc().filter(|&c| !unicode::is_stripped(c)).collect();
        let (skel, span) = unicode::skeleton(&nfkc);
        if first_span.is_none() {
            first_span = span;
        }
        if skel == cur {
            break;
        }
        cur = skel;
    }
    (cur, first_span)
}

fn push_variant(out: &mut Vec<Variant>, kind: VariantKind, text: String) -> bool {
    if out.len() >= MAX_VARIANTS || text.is_empty() || out.iter().any(|v| v.text == text) {
        return false;
    }
    out.push(Variant { kind, text });
    true
}

/// Sanitises one text: signals plus the original, normalised, tag-payload and decoded variants.
pub fn sanitize(text: &str, limits: Limits) -> Sanitized {
    let mut signals = Vec::new();
    let scan = unicode::scan(text);
    let sig = |kind, (offset, len): (usize, usize)| UnicodeSignal { kind, offset, len };
    if let Some(s) = scan.tag_span {
        signals.push(sig(SignalKind::TagSmuggling, s));
    }
    if let Some(s) = scan.bidi_span {
        signals.push(sig(SignalKind::BidiControl, s));
    }
    if let Some(s) = scan.invisible_span {
        signals.push(sig(SignalKind::Invisible, s));
    }
    let mut variants = vec![Variant {
        kind: VariantKind::Original,
        text: text.to_owned(),
    }];
    let (normalized, confusable) = normalize_with_span(text);
    if let Some(s) = confusable {
        signals.push(sig(SignalKind::MixedScriptConfusable, s));
    }
    push_variant(&mut variants, VariantKind::Normalized, normalized);
    if !scan.tag_payload.is_empty() {
        push_variant(&mut variants, VariantKind::TagPayload, scan.tag_payload);
    }
    // Breadth-first decoding over the variants so far, depth-bounded and byte-budgeted.
    let mut budget = limits.max_decoded_bytes;
    let mut frontier: Vec<usize> = (0..variants.len()).collect();
    for depth in 1..=limits.max_depth.min(MAX_DEPTH) {
        let mut next = Vec::new();
        for idx in frontier {
            let Some(src) = variants.get(idx).map(|v| v.text.clone()) else {
                continue;
            };
            for (enc, decoded) in decode::decode_once(&src) {
                if decoded.len() > budget {
                    continue;
                }
                budget -= decoded.len();
                if push_variant(&mut variants, VariantKind::Decoded(enc, depth), decoded) {
                    next.push(variants.len() - 1);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Sanitized { variants, signals }
}

#[cfg(test)]
mod tests;
