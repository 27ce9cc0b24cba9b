//! Unicode hygiene: invisible and bidi control detection, tag-character decoding, and the
//! confusable skeleton for mixed-script words (a UTS #39 subset).
//!
//! Legitimate uses are not findings: emoji ZWJ sequences, emoji flag tag sequences
//! (U+1F3F4, tag letters, U+E007F), variation selectors after emoji or CJK, ZWNJ/ZWJ inside
//! non-Latin scripts, and RTL text with its own marks (LRM/RLM/ALM are never flagged).

/// Unicode tag block (U+E0000..=U+E007F).
fn is_tag(c: char) -> bool {
    ('\u{E0000}'..='\u{E007F}').contains(&c)
}

/// Bidi overrides and isolates (Trojan Source); embeddings are handled separately.
fn is_bidi_override_or_isolate(c: char) -> bool {
    matches!(c, '\u{202D}' | '\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_bidi_embedding(c: char) -> bool {
    matches!(c, '\u{202A}' | '\u{202B}' | '\u{202C}')
}

fn is_variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Zero-width and other default-ignorable characters that render as nothing.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180E}'
            | '\u{200B}'..='\u{200D}'
            | '\u{2060}'..='\u{2064}'
            | '\u{206A}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
    )
}

/// True for characters removed in the normalised variant (never in the original).
pub fn is_stripped(c: char) -> bool {
    is_invisible(c)
        || is_tag(c)
        || is_variation_selector(c)
        || is_bidi_override_or_isolate(c)
        || is_bidi_embedding(c)
}

fn is_pictographic(c: char) -> bool {
    let u = c as u32;
    (0x1F000..=0x1FAFF).contains(&u)
        || (0x2600..=0x27BF).contains(&u)
        || (0x2300..=0x23FF).contains(&u)
        || (0x2B00..=0x2BFF).contains(&u)
        || matches!(
            u,
            0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x3030 | 0x303D
        )
        || (0x2190..=0x21FF).contains(&u)
        || (0x1F3FB..=0x1F3FF).contains(&u)
}

/// Scripts that separate words with U+200B (no spaces): Thai, Lao, Tibetan, Myanmar, Khmer.
fn is_zwsp_script(c: char) -> bool {
    matches!(c as u32, 0x0E00..=0x0FFF | 0x1000..=0x109F | 0x1780..=0x17FF | 0x19E0..=0x19FF)
}

/// Scripts whose spelling uses ZWNJ/ZWJ (Arabic and Persian, the Brahmic scripts of India and
/// South-East Asia): short runs of them between letters are orthographic.
fn is_joiner_script(c: char) -> bool {
    matches!(
        c as u32,
        0x0600..=0x06FF | 0x0750..=0x077F | 0x0900..=0x0DFF | 0x0E00..=0x109F | 0x1780..=0x17FF
            | 0xFB50..=0xFDFF | 0xFE70..=0xFEFE
    )
}

fn is_rtl_letter(c: char) -> bool {
    matches!(c as u32, 0x0590..=0x08FF | 0xFB1D..=0xFDFF | 0xFE70..=0xFEFF)
}

/// What was found in one text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnicodeScan {
    /// Decoded payload of smuggled tag characters (empty when none).
    pub tag_payload: String,
    /// Byte offset and length of the first smuggled tag run.
    pub tag_span: Option<(usize, usize)>,
    /// First suspicious bidi control.
    pub bidi_span: Option<(usize, usize)>,
    /// First suspicious invisible character (run).
    pub invisible_span: Option<(usize, usize)>,
}

/// Finds smuggling signals in `text` (the original, not a normalised variant).
pub fn scan(text: &str) -> UnicodeScan {
    // Every signal is a non-ASCII character: ASCII text has none.
    if text.is_ascii() {
        return UnicodeScan::default();
    }
    scan_chars(text)
}

/// [`scan`] without the ASCII shortcut.
pub(crate) fn scan_chars(text: &str) -> UnicodeScan {
    let mut out = UnicodeScan::default();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let has_rtl = chars.iter().any(|&(_, c)| is_rtl_letter(c));
    // Without right-to-left letters, one stray LRE or PDF (left in a translation) reorders
    // nothing; RLE always can, and several embeddings are a pattern, not a typo.
    let embeddings = chars.iter().filter(|&&(_, c)| is_bidi_embedding(c)).count();
    let mut i = 0;
    while i < chars.len() {
        let Some(&(off, c)) = chars.get(i) else { break };
        if is_tag(c) {
            // A run of tags; legitimate only as a flag sequence: 🏴 + [a-z0-9]{2,7} + cancel tag.
            let start = i;
            while chars.get(i).is_some_and(|&(_, c)| is_tag(c)) {
                i += 1;
            }
            let run = chars.get(start..i).unwrap_or(&[]);
            let after_flag =
                start > 0 && chars.get(start - 1).is_some_and(|&(_, p)| p == '\u{1F3F4}');
            let flag_like = after_flag
                && run.len() <= 8
                && run.last().is_some_and(|&(_, t)| t == '\u{E007F}')
                && run.iter().rev().skip(1).all(
                    |&(_, t)| matches!(t, '\u{E0030}'..='\u{E0039}' | '\u{E0061}'..='\u{E007A}'),
                );
            if !flag_like {
                let end = chars.get(i).map_or(text.len(), |&(o, _)| o);
                out.tag_span.get_or_insert((off, end - off));
                for &(_, t) in run {
                    let b = (t as u32).wrapping_sub(0xE0000);
                    if (0x20..0x7F).contains(&b) || b == 0x0A {
                        out.tag_payload.push(char::from(b as u8));
                    }
                }
            }
            continue;
        }
        let prev = if i > 0 {
            chars.get(i - 1).map(|&(_, p)| p)
        } else {
            None
        };
        let next = chars.get(i + 1).map(|&(_, n)| n);
        let stray_embedding = matches!(c, '\u{202A}' | '\u{202C}') && embeddings == 1;
        if is_bidi_override_or_isolate(c) || (is_bidi_embedding(c) && !has_rtl && !stray_embedding)
        {
            out.bidi_span.get_or_insert((off, c.len_utf8()));
        } else if is_invisible(c) {
            let ascii_adjacent = prev.is_some_and(|p| p.is_ascii_alphanumeric())
                || next.is_some_and(|n| n.is_ascii_alphanumeric());
            let run = next.is_some_and(|n| is_invisible(n) || is_variation_selector(n));
            let emoji_joiner = c == '\u{200D}'
                && (prev.is_some_and(|p| is_pictographic(p) || is_variation_selector(p))
                    || next.is_some_and(is_pictographic));
            let bom = c == '\u{FEFF}' && i == 0;
            let suspicious = match c {
                // ZWNJ/ZWJ are orthographic in Persian, Indic and other scripts, also two or
                // three in a row (`స్\u{200D}\u{200C}బ` in Telugu, Malayalam UI strings).
                '\u{200C}' | '\u{200D}' => {
                    !emoji_joiner && (ascii_adjacent || (run && !joiner_run(&chars, i)))
                }
                '\u{00AD}' => run,
                // A zero-width space separates words in Khmer, Thai and CJK text and is left
                // behind by copy and paste next to spaces; it hides something only inside an
                // ASCII token (`ig\u{200B}nore`, `sk-\u{200B}live`) or as a run (a payload).
                '\u{200B}' | '\u{FEFF}' => !bom && zero_width_suspicious(&chars, i),
                // A word joiner keeps `-` from a line break in typeset text (`-\u{2060}-protocol`
                // in man pages); it hides something between two letters or digits, or in a run.
                '\u{2060}' => word_joiner_suspicious(&chars, i),
                _ => !bom && !emoji_joiner,
            };
            if suspicious {
                out.invisible_span.get_or_insert((off, c.len_utf8()));
            }
        } else if is_variation_selector(c) {
            let supplementary = (c as u32) >= 0xE0100;
            let after_letter = prev.is_some_and(|p| p.is_ascii_alphabetic());
            let run = next.is_some_and(is_variation_selector);
            let after_cjk =
                prev.is_some_and(|p| matches!(p as u32, 0x3400..=0x9FFF | 0x20000..=0x3FFFF));
            if after_letter || run || (supplementary && !after_cjk) {
                out.invisible_span.get_or_insert((off, c.len_utf8()));
            }
        }
        i += 1;
    }
    out
}

/// The run of hidden characters (invisibles, variation selectors) around `i`: its bounds and
/// the visible characters before and after it.
fn hidden_run(chars: &[(usize, char)], i: usize) -> (usize, usize, Option<char>, Option<char>) {
    let hidden = |c: char| is_invisible(c) || is_variation_selector(c);
    let run_start = chars
        .get(..i)
        .unwrap_or(&[])
        .iter()
        .rposition(|&(_, c)| !hidden(c))
        .map_or(0, |p| p + 1);
    let run_end = chars
        .get(i..)
        .unwrap_or(&[])
        .iter()
        .position(|&(_, c)| !hidden(c))
        .map_or(chars.len(), |p| p + i);
    let before = run_start
        .checked_sub(1)
        .and_then(|p| chars.get(p))
        .map(|&(_, c)| c);
    let after = chars.get(run_end).map(|&(_, c)| c);
    (run_start, run_end, before, after)
}

/// True when every character of `chars[start..end]` is one of `allowed`.
fn run_only(chars: &[(usize, char)], start: usize, end: usize, allowed: &[char]) -> bool {
    chars
        .get(start..end)
        .unwrap_or(&[])
        .iter()
        .all(|(_, c)| allowed.contains(c))
}

/// A run at `i` of at most three ZWNJ/ZWJ (nothing else hidden) next to a letter of a script
/// that spells with them.
fn joiner_run(chars: &[(usize, char)], i: usize) -> bool {
    let (start, end, before, after) = hidden_run(chars, i);
    end - start <= 3
        && run_only(chars, start, end, &['\u{200C}', '\u{200D}'])
        && (before.is_some_and(is_joiner_script) || after.is_some_and(is_joiner_script))
}

/// A word joiner at `i` hides something between two ASCII letters or digits (`ig\u{2060}nore`)
/// or in a run of at least three hidden characters.
fn word_joiner_suspicious(chars: &[(usize, char)], i: usize) -> bool {
    let (start, end, before, after) = hidden_run(chars, i);
    end - start >= 3
        || (before.is_some_and(|c| c.is_ascii_alphanumeric())
            && after.is_some_and(|c| c.is_ascii_alphanumeric()))
}

/// A zero-width space (or a ZWNBSP that is no BOM) at `i` hides something: inside an ASCII
/// token (both visible neighbours printable ASCII, not spaces, one of them a letter or digit),
/// or a run of at least three invisible characters — unless the run is of at most four
/// zero-width spaces next to a script that separates words with them (Khmer text doubles them).
fn zero_width_suspicious(chars: &[(usize, char)], i: usize) -> bool {
    let (run_start, run_end, before, after) = hidden_run(chars, i);
    if run_end - run_start >= 3 {
        let separator = run_end - run_start <= 4
            && run_only(chars, run_start, run_end, &['\u{200B}'])
            && (before.is_some_and(is_zwsp_script) || after.is_some_and(is_zwsp_script));
        return !separator;
    }
    let token = |c: Option<char>| c.is_some_and(|c| c.is_ascii_graphic());
    token(before)
        && token(after)
        && (before.is_some_and(|c| c.is_ascii_alphanumeric())
            || after.is_some_and(|c| c.is_ascii_alphanumeric()))
}

/// Latin look-alike for a Cyrillic, Greek or other confusable letter (UTS #39 subset).
pub fn confusable(c: char) -> Option<char> {
    Some(match c {
        // Cyrillic
        'а' => 'a',
        'в' => 'b',
        'е' => 'e',
        'ё' => 'e',
        'к' => 'k',
        'м' => 'm',
        'н' => 'h',
        'о' => 'o',
        'р' => 'p',
        'с' => 'c',
        'т' => 't',
        'у' => 'y',
        'х' => 'x',
        'ѕ' => 's',
        'і' => 'i',
        'ї' => 'i',
        'ј' => 'j',
        'ԁ' => 'd',
        'һ' => 'h',
        'ԛ' => 'q',
        'ԝ' => 'w',
        'ь' => 'b',
        'ӏ' => 'l',
        'ɡ' => 'g',
        'п' => 'n',
        'г' => 'r',
        'А' => 'A',
        'В' => 'B',
        'Е' => 'E',
        'Ё' => 'E',
        'К' => 'K',
        'М' => 'M',
        'Н' => 'H',
        'О' => 'O',
        'Р' => 'P',
        'С' => 'C',
        'Т' => 'T',
        'У' => 'Y',
        'Х' => 'X',
        'Ѕ' => 'S',
        'І' => 'I',
        'Ј' => 'J',
        'Ԁ' => 'D',
        'Ӏ' => 'l',
        'Ԛ' => 'Q',
        'Ԝ' => 'W',
        // Greek
        'α' => 'a',
        'β' => 'b',
        'γ' => 'y',
        'ε' => 'e',
        'η' => 'n',
        'ι' => 'i',
        'κ' => 'k',
        'ν' => 'v',
        'ο' => 'o',
        'ρ' => 'p',
        'τ' => 't',
        'υ' => 'u',
        'χ' => 'x',
        'ω' => 'w',
        'Α' => 'A',
        'Β' => 'B',
        'Ε' => 'E',
        'Ζ' => 'Z',
        'Η' => 'H',
        'Ι' => 'I',
        'Κ' => 'K',
        'Μ' => 'M',
        'Ν' => 'N',
        'Ο' => 'O',
        'Ρ' => 'P',
        'Τ' => 'T',
        'Υ' => 'Y',
        'Χ' => 'X',
        // Latin look-alikes outside ASCII
        'ı' => 'i',
        'ȷ' => 'j',
        'ɑ' => 'a',
        'ɩ' => 'i',
        'ℓ' => 'l',
        '℮' => 'e',
        // Armenian / Cherokee favourites
        'օ' => 'o',
        'ս' => 'u',
        'հ' => 'h',
        'ո' => 'n',
        'Ꭺ' => 'A',
        'Ꮯ' => 'C',
        'Ꭼ' => 'E',
        _ => return None,
    })
}

/// Letters of Greek, Cyrillic, Armenian and Cherokee (the scripts with Latin look-alikes).
fn is_other_confusable_script(c: char) -> bool {
    matches!(c as u32, 0x0370..=0x03FF | 0x0400..=0x052F | 0x0530..=0x058F | 0x13A0..=0x13FF)
}

/// Latin-script letters outside ASCII that look like an ASCII letter. `ı` is an ordinary letter
/// of Turkish and Azerbaijani: mapped in the skeleton, never a signal on its own.
fn is_latin_lookalike(c: char) -> bool {
    matches!(c, 'ı' | 'ȷ' | 'ɑ' | 'ɩ' | 'ℓ' | '℮')
}

fn is_confusable_script(c: char) -> bool {
    is_other_confusable_script(c) || is_latin_lookalike(c)
}

/// True for a word of at most two letters, or a Latin head followed by one run of two or more
/// Cyrillic/Greek/… letters (`UIDов`, `-sстрока`, `Iмакс` in Russian man pages): an identifier
/// with a native suffix or a glued placeholder, not a spoof, which puts look-alikes among Latin
/// letters (`ignоre`) or at the start (`Ѕystem`). Such a word is still mapped to its skeleton,
/// so phrase rules read it; only the smuggling signal is not raised.
fn native_suffix(word: &str) -> bool {
    let letters: Vec<bool> = word
        .chars()
        .filter(|c| c.is_alphabetic())
        .map(is_other_confusable_script)
        .collect();
    if letters.len() <= 2 {
        return true;
    }
    let switches = letters.windows(2).filter(|w| w[0] != w[1]).count();
    let tail = letters.iter().rev().take_while(|&&other| other).count();
    letters.first() == Some(&false) && switches == 1 && tail >= 2
}

/// Applies the skeleton to words that mix Latin letters with confusable-script letters.
/// Returns the new text and the byte span (in `text`) of the first rewritten word that held a
/// letter of another script (a signal).
///
/// A spoof is built from look-alikes only: a word with a letter of the other script that has no
/// Latin twin (`файлe`, a Cyrillic word with a typo, `uрядок` from a man page) is a genuine
/// word of that script and is left alone. `_` separates words (`НОВИЙ_UID`, `тип_gopher`).
pub fn skeleton(text: &str) -> (String, Option<(usize, usize)>) {
    let mut out = String::with_capacity(text.len());
    let mut first = None;
    let mut word_start = 0;
    let mut in_word = false;
    let flush = |out: &mut String, word: &str, start: usize, first: &mut Option<(usize, usize)>| {
        let latin = word.chars().any(|c| c.is_ascii_alphabetic());
        let (mut foreign, mut other_script, mut all_mappable) = (false, false, true);
        for c in word.chars().filter(|&c| is_confusable_script(c)) {
            foreign = true;
            other_script |= is_other_confusable_script(c);
            all_mappable &= confusable(c).is_some();
        }
        if latin && foreign && all_mappable {
            if other_script && !native_suffix(word) {
                first.get_or_insert((start, word.len()));
            }
            out.extend(word.chars().map(|c| confusable(c).unwrap_or(c)));
        } else {
            out.push_str(word);
        }
    };
    for (i, c) in text.char_indices() {
        let wordish = c.is_alphanumeric();
        if wordish && !in_word {
            word_start = i;
            in_word = true;
        } else if !wordish && in_word {
            flush(
                &mut out,
                text.get(word_start..i).unwrap_or(""),
                word_start,
                &mut first,
            );
            in_word = false;
        }
        if !wordish {
            out.push(c);
        }
    }
    if in_word {
        flush(
            &mut out,
            text.get(word_start..).unwrap_or(""),
            word_start,
            &mut first,
        );
    }
    (out, first)
}
