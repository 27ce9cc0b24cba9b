//! The part of UTS #46 ToASCII that a host check needs, without the 100 KB of IDNA mapping tables:
//! the URL Standard's "domain to ASCII" with `beStrict = false`.
//!
//! - An ASCII domain with no `xn--` label is lower-cased (the standard's fast path, exact).
//! - Otherwise each code point is mapped: the UTS #46 *ignored* code points (soft hyphen, zero-width
//!   space, word joiner, variation selectors, BOM, …) are dropped; the full stops that UTS #46 maps
//!   to `.` (U+3002, U+FF0E, U+FF61) become `.`; code points UTS #46 disallows that matter for
//!   smuggling (C1 controls, bidi controls, tag characters, private use, noncharacters, U+FFFD,
//!   zero-width joiners — rejected by CheckJoiners outside Indic scripts) fail; the rest goes
//!   through NFKC and lower-casing (UTS #46 mapping is NFKC_Casefold in all but a few deviations,
//!   which it keeps: `ß` and final sigma are not folded). Non-ASCII labels are Punycode-encoded.
//!
//! Where this approximation and full UTS #46 differ (unassigned code points, the Bidi rule, rare
//! mappings), the result is a non-ASCII-derived `xn--` domain or a failure — never an IP address
//! or an ASCII name that UTS #46 would not give: the property tests in `url_tests.rs` check that
//! every input the `url` crate reads as an IP, or as an ASCII name, is read the same way here.

use unicode_normalization::UnicodeNormalization;

/// Mapped to nothing by UTS #46.
fn ignored(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x180B..=0x180D | 0x180F | 0x200B | 0x2060 | 0x2064
        | 0xFE00..=0xFE0F | 0xFEFF | 0x1BCA0..=0x1BCA3 | 0xE0100..=0xE01EF)
}

/// Disallowed by UTS #46 (or rejected by CheckJoiners), among the code points used to smuggle.
fn disallowed(c: char) -> bool {
    let u = c as u32;
    matches!(u,
        0x0080..=0x009F | 0x061C | 0x115F | 0x1160 | 0x180E | 0x200C..=0x200F | 0x2028..=0x202E
        | 0x2061..=0x2063 | 0x2065..=0x206F | 0x3164 | 0xE000..=0xF8FF | 0xFDD0..=0xFDEF
        | 0xFFA0 | 0xFFF0..=0xFFFD | 0xE0000..=0xE00FF | 0xF0000..=0x10FFFF)
        || (u & 0xFFFE) == 0xFFFE
}

fn dot_like(c: char) -> bool {
    matches!(c, '\u{3002}' | '\u{FF0E}' | '\u{FF61}')
}

/// Domain to ASCII; `None` on failure.
pub fn domain_to_ascii(domain: &str) -> Option<String> {
    let has_xn = |d: &str| {
        d.split('.')
            .any(|l| l.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("xn--")))
    };
    if domain.is_ascii() && !has_xn(domain) {
        return Some(domain.to_ascii_lowercase());
    }
    let mut pre = String::with_capacity(domain.len());
    for c in domain.chars() {
        if ignored(c) {
            continue;
        }
        if disallowed(c) {
            return None;
        }
        pre.push(if dot_like(c) { '.' } else { c });
    }
    let mut mapped = String::with_capacity(pre.len());
    let lowered: String = pre.nfkc().flat_map(char::to_lowercase).collect();
    for c in lowered.nfkc() {
        if ignored(c) {
            continue;
        }
        if disallowed(c) {
            return None;
        }
        mapped.push(if dot_like(c) { '.' } else { c });
    }
    let mut labels: Vec<String> = Vec::new();
    for label in mapped.split('.') {
        if label.is_ascii() {
            if let Some(p) = label.strip_prefix("xn--") {
                let decoded = decode(p)?;
                if decoded.is_empty() || decoded.iter().all(char::is_ascii) {
                    return None;
                }
                // The decoded label must be one that mapping leaves unchanged (UTS #46 "valid").
                let text: String = decoded.iter().collect();
                let remapped: String = text.nfkc().flat_map(char::to_lowercase).nfkc().collect();
                if remapped != text
                    || text
                        .chars()
                        .any(|c| ignored(c) || disallowed(c) || dot_like(c) || c == '.')
                {
                    return None;
                }
            }
            labels.push(label.to_owned());
        } else {
            labels.push(format!("xn--{}", encode(label)?));
        }
    }
    Some(labels.join("."))
}

const BASE: u32 = 36;
const TMIN: u32 = 1;
const TMAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta / 2 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - TMIN) * TMAX) / 2 {
        delta /= BASE - TMIN;
        k += BASE;
    }
    k + (BASE - TMIN + 1) * delta / (delta + SKEW)
}

fn threshold(k: u32, bias: u32) -> u32 {
    if k <= bias {
        TMIN
    } else if k >= bias + TMAX {
        TMAX
    } else {
        k - bias
    }
}

fn digit(d: u32) -> char {
    let b = if d < 26 {
        b'a' + d as u8
    } else {
        b'0' + (d - 26) as u8
    };
    b as char
}

/// RFC 3492 Punycode encoding of one label; `None` on overflow.
pub fn encode(label: &str) -> Option<String> {
    let input: Vec<u32> = label.chars().map(|c| c as u32).collect();
    let mut out: String = label.chars().filter(char::is_ascii).collect();
    let basic = out.len() as u32;
    let mut h = basic;
    if basic > 0 {
        out.push('-');
    }
    let (mut n, mut delta, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    while (h as usize) < input.len() {
        let m = input.iter().copied().filter(|&c| c >= n).min()?;
        delta = delta.checked_add((m - n).checked_mul(h + 1)?)?;
        n = m;
        for &c in &input {
            if c < n {
                delta = delta.checked_add(1)?;
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = threshold(k, bias);
                    if q < t {
                        break;
                    }
                    out.push(digit(t + (q - t) % (BASE - t)));
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out.push(digit(q));
                bias = adapt(delta, h + 1, h == basic);
                delta = 0;
                h += 1;
            }
        }
        delta = delta.checked_add(1)?;
        n = n.checked_add(1)?;
    }
    Some(out)
}

/// RFC 3492 Punycode decoding of one label (without `xn--`); `None` when invalid.
pub fn decode(input: &str) -> Option<Vec<char>> {
    let (basic, rest) = match input.rfind('-') {
        Some(i) => (&input[..i], &input[i + 1..]),
        None => ("", input),
    };
    if !basic.is_ascii() {
        return None;
    }
    let mut out: Vec<char> = basic.chars().collect();
    let (mut n, mut i, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    let mut it = rest.bytes().peekable();
    while it.peek().is_some() {
        let old = i;
        let mut w = 1u32;
        let mut k = BASE;
        loop {
            let b = it.next()?;
            let d = match b {
                b'a'..=b'z' => u32::from(b - b'a'),
                b'A'..=b'Z' => u32::from(b - b'A'),
                b'0'..=b'9' => u32::from(b - b'0') + 26,
                _ => return None,
            };
            i = i.checked_add(d.checked_mul(w)?)?;
            let t = threshold(k, bias);
            if d < t {
                break;
            }
            w = w.checked_mul(BASE - t)?;
            k += BASE;
        }
        let len = out.len() as u32 + 1;
        bias = adapt(i - old, len, old == 0);
        n = n.checked_add(i / len)?;
        i %= len;
        out.insert(i as usize, char::from_u32(n)?);
        i += 1;
    }
    Some(out)
}
