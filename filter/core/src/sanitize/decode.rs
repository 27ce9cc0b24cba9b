//! Strict span decoders: base64, base32, hex, percent, HTML entities, `\u`/`\x` escapes and
//! rot13. A span is decoded only when it validates strictly and the result is mostly printable
//! text; the decoded text is an extra variant, the original is always kept.

/// Encodings the decoder recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// RFC 4648 base64 (standard or URL-safe alphabet).
    Base64,
    /// RFC 4648 base32.
    Base32,
    /// Hex digits (bare, `\x`-prefixed or space-separated pairs).
    Hex,
    /// `%XX` percent escapes.
    Percent,
    /// HTML character references.
    Html,
    /// `\uXXXX` / `\xXX` escapes.
    Escape,
    /// rot13.
    Rot13,
}

impl Encoding {
    /// Short name for provenance.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Base32 => "base32",
            Encoding::Hex => "hex",
            Encoding::Percent => "percent",
            Encoding::Html => "html",
            Encoding::Escape => "escape",
            Encoding::Rot13 => "rot13",
        }
    }
}

/// Minimum length of an encoded span (shorter runs are ordinary words).
const MIN_SPAN: usize = 16;

/// True when decoded bytes look like text worth scanning (valid UTF-8, ≥ 90 % printable, has letters).
fn printable(bytes: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(bytes).ok()?;
    let total = s.chars().count();
    if total < 4 {
        return None;
    }
    let good = s
        .chars()
        .filter(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t'))
        .count();
    let letters = s.chars().filter(|c| c.is_alphabetic()).count();
    // Intermediate layers (hex inside base64) are digit-heavy but still an encoding alphabet.
    let alphabet = s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
    (good * 10 >= total * 9 && (letters * 4 >= total || alphabet)).then(|| s.to_owned())
}

fn b64_val(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Strict base64: alphabet only, correct padding, no leftover bits set.
pub fn base64(span: &str) -> Option<Vec<u8>> {
    let body = span.trim_end_matches('=');
    let pad = span.len() - body.len();
    if pad > 2 || body.len() % 4 == 1 || (pad > 0 && !span.len().is_multiple_of(4)) {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &c in body.as_bytes() {
        acc = (acc << 6) | u32::from(b64_val(c)?);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (acc == 0).then_some(out)
}

/// Strict base32 (upper-case alphabet, optional padding).
pub fn base32(span: &str) -> Option<Vec<u8>> {
    let body = span.trim_end_matches('=');
    if !matches!(body.len() % 8, 0 | 2 | 4 | 5 | 7) {
        return None;
    }
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut bits = 0;
    for &c in body.as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Hex pairs, ignoring `\x`, `0x` and single separators between pairs.
pub fn hex(span: &str) -> Option<Vec<u8>> {
    let cleaned: String = span
        .replace("\\x", "")
        .replace("0x", "")
        .chars()
        .filter(|c| !matches!(c, ' ' | ':' | ','))
        .collect();
    if !cleaned.len().is_multiple_of(2) || cleaned.len() < MIN_SPAN {
        return None;
    }
    let b = cleaned.as_bytes();
    let mut out = Vec::with_capacity(b.len() / 2);
    for pair in b.chunks(2) {
        let s = std::str::from_utf8(pair).ok()?;
        out.push(u8::from_str_radix(s, 16).ok()?);
    }
    Some(out)
}

/// Finds maximal runs of `alphabet` characters of at least `MIN_SPAN` bytes.
fn runs(text: &str, in_alpha: impl Fn(u8) -> bool, min: usize) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, &c) in text.as_bytes().iter().enumerate() {
        if in_alpha(c) {
            start.get_or_insert(i);
        } else if let Some(s) = start.take() {
            if i - s >= min {
                if let Some(span) = text.get(s..i) {
                    out.push(span);
                }
            }
        }
    }
    if let Some(s) = start {
        if text.len() - s >= min {
            if let Some(span) = text.get(s..) {
                out.push(span);
            }
        }
    }
    out
}

fn decode_runs(text: &str, out: &mut Vec<(Encoding, String)>) {
    for span in runs(
        text,
        |c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'-' | b'_'),
        MIN_SPAN,
    ) {
        // Pure hex runs (hashes, ids) are tried as hex only.
        let all_hex = span.bytes().all(|c| c.is_ascii_hexdigit());
        if all_hex {
            if let Some(s) = hex(span).and_then(|b| printable(&b)) {
                out.push((Encoding::Hex, s));
            }
            continue;
        }
        let trimmed = span.trim_matches(|c| c == '-' || c == '_');
        if let Some(s) = base64(trimmed).and_then(|b| printable(&b)) {
            out.push((Encoding::Base64, s));
        } else if let Some(s) = base32(trimmed).and_then(|b| printable(&b)) {
            out.push((Encoding::Base32, s));
        }
    }
    // `\x41\x42…` and `41 42 43 …` hex sequences.
    for span in runs(
        text,
        |c| c.is_ascii_hexdigit() || matches!(c, b'\\' | b'x' | b' '),
        MIN_SPAN * 2,
    ) {
        if span.bytes().any(|c| c == b'\\' || c == b' ') {
            if let Some(s) = hex(span.trim()).and_then(|b| printable(&b)) {
                out.push((Encoding::Hex, s));
            }
        }
    }
}

/// `%XX` decoding of the whole text (only when at least one valid escape exists).
pub fn percent(text: &str) -> Option<String> {
    if !text.contains('%') {
        return None;
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let mut any = false;
    while i < b.len() {
        let c = b.get(i).copied().unwrap_or(0);
        if c == b'%' {
            if let Some(v) = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 3;
                any = true;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    if !any {
        return None;
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

fn named_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "sol" => '/',
        "bsol" => '\\',
        "colon" => ':',
        "lpar" => '(',
        "rpar" => ')',
        "period" => '.',
        "semi" => ';',
        "equals" => '=',
        "hyphen" | "dash" => '-',
        "NewLine" => '\n',
        "Tab" => '\t',
        _ => return None,
    })
}

/// HTML character references (`&#45;`, `&#x2D;`, `&lt;`), when at least one is present.
pub fn html(text: &str) -> Option<String> {
    if !text.contains('&') {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut any = false;
    while let Some(pos) = rest.find('&') {
        out.push_str(rest.get(..pos).unwrap_or(""));
        let tail = rest.get(pos + 1..).unwrap_or("");
        let end = tail.find(';').filter(|&e| e > 0 && e <= 10);
        let decoded = end.and_then(|e| {
            let name = tail.get(..e)?;
            if let Some(num) = name.strip_prefix("#x").or_else(|| name.strip_prefix("#X")) {
                u32::from_str_radix(num, 16).ok().and_then(char::from_u32)
            } else if let Some(num) = name.strip_prefix('#') {
                num.parse::<u32>().ok().and_then(char::from_u32)
            } else {
                named_entity(name)
            }
        });
        match (decoded, end) {
            (Some(c), Some(e)) => {
                out.push(c);
                any = true;
                rest = tail.get(e + 1..).unwrap_or("");
            }
            _ => {
                out.push('&');
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    any.then_some(out)
}

/// `\uXXXX` (with surrogate pairs), `\UXXXXXXXX` and `\xXX` escapes.
pub fn escapes(text: &str) -> Option<String> {
    if !text.contains('\\') {
        return None;
    }
    let mut out = String::with_capacity(text.len());
    let mut it = text.char_indices().peekable();
    let mut any = false;
    let mut pending_high: Option<u32> = None;
    while let Some((i, c)) = it.next() {
        if c == '\\' {
            let kind = text.get(i + 1..i + 2);
            let width = match kind {
                Some("u") => 4,
                Some("U") => 8,
                Some("x") => 2,
                _ => 0,
            };
            let hexs = text.get(i + 2..i + 2 + width);
            if let Some(v) = hexs
                .filter(|h| width > 0 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
            {
                for _ in 0..width + 1 {
                    it.next();
                }
                any = true;
                if (0xD800..0xDC00).contains(&v) {
                    pending_high = Some(v);
                    continue;
                }
                let cp = match pending_high.take() {
                    Some(h) if (0xDC00..0xE000).contains(&v) => {
                        0x10000 + ((h - 0xD800) << 10) + (v - 0xDC00)
                    }
                    _ => v,
                };
                if let Some(ch) = char::from_u32(cp) {
                    out.push(ch);
                }
                continue;
            }
        }
        out.push(c);
    }
    any.then_some(out)
}

/// rot13 of ASCII letters.
pub fn rot13(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'a'..='m' | 'A'..='M' => char::from(c as u8 + 13),
            'n'..='z' | 'N'..='Z' => char::from(c as u8 - 13),
            _ => c,
        })
        .collect()
}

const COMMON: &[&str] = &[
    "the",
    "and",
    "you",
    "that",
    "this",
    "with",
    "your",
    "ignore",
    "instructions",
    "secret",
    "password",
    "previous",
    "system",
    "prompt",
    "key",
    "all",
    "for",
    "are",
    "what",
    "print",
];

/// [`COMMON`] under rot13: a word of a text is common after rotation exactly when it is one of these
/// (rot13 maps ASCII letters to ASCII letters, so word boundaries and lengths do not change).
const COMMON_ROT13: &[&str] = &[
    "gur",
    "naq",
    "lbh",
    "gung",
    "guvf",
    "jvgu",
    "lbhe",
    "vtaber",
    "vafgehpgvbaf",
    "frperg",
    "cnffjbeq",
    "cerivbhf",
    "flfgrz",
    "cebzcg",
    "xrl",
    "nyy",
    "sbe",
    "ner",
    "jung",
    "cevag",
];

/// ASCII letters, and the words (runs of at least three ASCII letters) that are in [`COMMON`]
/// as they are and after rot13, in one pass.
fn letters_and_common_words(text: &str) -> (usize, usize, usize) {
    let (mut letters, mut plain, mut rotated) = (0, 0, 0);
    for w in text.as_bytes().split(|c| !c.is_ascii_alphabetic()) {
        letters += w.len();
        if w.len() < 3 || w.len() > 12 {
            continue;
        }
        let mut buf = [0u8; 12];
        let Some(lower) = buf.get_mut(..w.len()) else {
            continue;
        };
        lower.copy_from_slice(w);
        lower.make_ascii_lowercase();
        plain += usize::from(COMMON.iter().any(|c| c.as_bytes() == &*lower));
        rotated += usize::from(COMMON_ROT13.iter().any(|c| c.as_bytes() == &*lower));
    }
    (letters, plain, rotated)
}

/// rot13 is tried only when the text names it, or when rotating reveals clearly more common
/// English words than the text had.
pub fn rot13_candidate(text: &str) -> Option<String> {
    let (letters, plain, rotated) = letters_and_common_words(text);
    if letters < 8 {
        return None;
    }
    let gain = rotated >= 2 + plain * 2;
    (gain || names_rot13(text)).then(|| rot13(text))
}

/// True when the text contains `rot13`, `rot-13` or `rot 13` (ASCII case-insensitive).
fn names_rot13(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(3).enumerate().any(|(i, w)| {
        w.eq_ignore_ascii_case(b"rot")
            && (b.get(i + 3..i + 5) == Some(b"13")
                || matches!(b.get(i + 3..i + 6), Some(b"-13") | Some(b" 13")))
    })
}

/// One level of decoding: every decodable span or whole-text decoding of `text`.
pub fn decode_once(text: &str) -> Vec<(Encoding, String)> {
    let mut out = Vec::new();
    decode_runs(text, &mut out);
    if let Some(s) = percent(text) {
        out.push((Encoding::Percent, s));
    }
    if let Some(s) = html(text) {
        out.push((Encoding::Html, s));
    }
    if let Some(s) = escapes(text) {
        out.push((Encoding::Escape, s));
    }
    if let Some(s) = rot13_candidate(text) {
        out.push((Encoding::Rot13, s));
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    /// [`super::runs`] as first written (index loop).
    fn runs_reference(text: &str, in_alpha: impl Fn(u8) -> bool, min: usize) -> Vec<&str> {
        let b = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b.get(i).copied().is_some_and(&in_alpha) {
                let s = i;
                while b.get(i).copied().is_some_and(&in_alpha) {
                    i += 1;
                }
                if i - s >= min {
                    if let Some(span) = text.get(s..i) {
                        out.push(span);
                    }
                }
            } else {
                i += 1;
            }
        }
        out
    }

    proptest! {
        #[test]
        fn runs_match_reference(text in "([A-Za-z0-9+/=]{0,20}|[ .,é\\n]{0,3}){0,20}", min in 1usize..20) {
            let alpha = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=');
            prop_assert_eq!(super::runs(&text, alpha, min), runs_reference(&text, alpha, min));
        }
    }
}
