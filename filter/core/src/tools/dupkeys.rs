//! Duplicate-key detection in raw JSON. `serde_json` keeps the last of repeated keys silently; a
//! tool that parses with "first wins" would see other arguments than the firewall did, so a
//! repeated key anywhere in tool arguments is a finding. A linear, allocation-light scan of the
//! raw text (depth-bounded; malformed input is simply "no duplicates found").

use std::borrow::Cow;
use std::collections::HashSet;

/// Deepest nesting scanned.
const MAX_DEPTH: usize = 128;

/// True when some object in `json` repeats a key (compared after unescaping `\uXXXX` and simple
/// escapes, so `"a"` and `"\u0061"` are the same key).
pub fn has_duplicate_keys(json: &str) -> bool {
    // One entry per open container: `Some(keys)` for objects, `None` for arrays.
    let mut stack: Vec<Option<HashSet<Cow<'_, str>>>> = Vec::new();
    let b = json.as_bytes();
    let mut i = 0;
    let mut expect_key = false;
    while i < b.len() {
        match b[i] {
            c @ (b'{' | b'[') => {
                if stack.len() >= MAX_DEPTH {
                    return false;
                }
                stack.push((c == b'{').then(HashSet::new));
                expect_key = c == b'{';
            }
            b'}' | b']' => {
                stack.pop();
                expect_key = false;
            }
            b',' => expect_key = matches!(stack.last(), Some(Some(_))),
            b':' => expect_key = false,
            b'"' => {
                let keys = match stack.last_mut() {
                    Some(Some(keys)) if expect_key => keys,
                    // A value (or a key outside an object): only its end matters.
                    _ => {
                        i = string_end(b, i + 1).0;
                        continue;
                    }
                };
                let (end, closed) = string_end(b, i + 1);
                // The key as written (between two ASCII quotes, so on char boundaries); only a
                // key with escapes, or one the input ends in, needs decoding to compare.
                let raw = if closed {
                    json.get(i + 1..end - 1)
                } else {
                    None
                };
                let key = match raw {
                    Some(raw) if !raw.contains('\\') => Cow::Borrowed(raw),
                    _ => Cow::Owned(read_string(b, i + 1).0),
                };
                if !keys.insert(key) {
                    return true;
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    false
}

/// Where [`read_string`] stops for a string starting at `start` (after its opening quote): the
/// index after the closing quote, and whether there was one (`\uXXXX` skips six bytes, other
/// escapes two), without decoding.
fn string_end(b: &[u8], start: usize) -> (usize, bool) {
    let mut i = start;
    while let Some(rest) = b.get(i..) {
        let Some(at) = memchr::memchr2(b'"', b'\\', rest) else {
            return (b.len().max(i), false);
        };
        i += at;
        if b[i] == b'"' {
            return (i + 1, true);
        }
        i += if b.get(i + 1) == Some(&b'u') { 6 } else { 2 };
    }
    (i, false)
}

/// Reads a JSON string starting after its opening quote; returns it unescaped and the index
/// after the closing quote.
fn read_string(b: &[u8], start: usize) -> (String, usize) {
    let mut out: Vec<u16> = Vec::new();
    let mut raw: Vec<u8> = Vec::new();
    let mut i = start;
    let flush = |raw: &mut Vec<u8>, out: &mut Vec<u16>| {
        out.extend(String::from_utf8_lossy(raw).encode_utf16());
        raw.clear();
    };
    while i < b.len() {
        match b[i] {
            b'"' => {
                flush(&mut raw, &mut out);
                return (String::from_utf16_lossy(&out), i + 1);
            }
            b'\\' => {
                flush(&mut raw, &mut out);
                let e = b.get(i + 1).copied().unwrap_or(b'\\');
                if e == b'u' {
                    let hex = b
                        .get(i + 2..i + 6)
                        .and_then(|h| std::str::from_utf8(h).ok());
                    if let Some(v) = hex.and_then(|h| u16::from_str_radix(h, 16).ok()) {
                        out.push(v);
                    }
                    i += 6;
                    continue;
                }
                out.push(u16::from(match e {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'b' => 8,
                    b'f' => 12,
                    other => other,
                }));
                i += 2;
                continue;
            }
            c => raw.push(c),
        }
        i += 1;
    }
    flush(&mut raw, &mut out);
    (String::from_utf16_lossy(&out), i)
}

#[cfg(test)]
mod tests {
    use super::has_duplicate_keys as dup;
    use super::{read_string, MAX_DEPTH};
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// The scan before values were skipped undecoded (every string decoded): the reference.
    fn reference(json: &str) -> bool {
        let mut stack: Vec<Option<HashSet<String>>> = Vec::new();
        let b = json.as_bytes();
        let mut i = 0;
        let mut expect_key = false;
        while i < b.len() {
            match b[i] {
                c @ (b'{' | b'[') => {
                    if stack.len() >= MAX_DEPTH {
                        return false;
                    }
                    stack.push((c == b'{').then(HashSet::new));
                    expect_key = c == b'{';
                }
                b'}' | b']' => {
                    stack.pop();
                    expect_key = false;
                }
                b',' => expect_key = matches!(stack.last(), Some(Some(_))),
                b':' => expect_key = false,
                b'"' => {
                    let (s, end) = read_string(b, i + 1);
                    if expect_key {
                        if let Some(Some(keys)) = stack.last_mut() {
                            if !keys.insert(s) {
                                return true;
                            }
                        }
                    }
                    i = end;
                    continue;
                }
                _ => {}
            }
            i += 1;
        }
        false
    }

    proptest! {
        #[test]
        fn same_answer_as_the_reference(
            json in r#"[{}\[\]",:\\ua0 é"]{0,40}"#,
        ) {
            prop_assert_eq!(dup(&json), reference(&json), "{:?}", json);
        }
    }

    #[test]
    fn finds_duplicates() {
        assert!(dup(r#"{"a":1,"a":2}"#));
        assert!(dup(r#"{"cmd":"ls","x":{"y":1},"cmd":"rm -rf /"}"#));
        assert!(dup(r#"{"a":1,"\u0061":2}"#));
        assert!(dup(r#"[{"k":1},{"b":{"c":1,"c":2}}]"#));
        assert!(!dup(r#"{"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]}"#));
        assert!(!dup(r#"{"a":"\"a\":","b":["a","a"]}"#));
        assert!(!dup(r#"{"a":["x","y"],"b":"a"}"#));
        assert!(!dup(""));
        assert!(!dup("{\"a"));
    }
}
