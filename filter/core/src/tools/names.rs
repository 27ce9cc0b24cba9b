//! Tool names as the policy compares them (issue 16: deny globs vs. namespaced names).
//!
//! MCP aggregators and clients put a server namespace in front of the tool's own name:
//! `mcp__github__delete_repository` (Claude Code and others), `github.delete_repository`,
//! `github/delete_repository`, `github:delete_repository`. A model can also be steered to a
//! look-alike: `dеlete_repository` with a Cyrillic `е`, a leading zero-width space, full-width or
//! mathematical letters, `DELETE_Repository`. A deny glob and a `tools.rules[]` glob are matched
//! against every [`forms`] of the name:
//!
//! 1. the name folded: NFKC (full-width and mathematical letters become ASCII), default-ignorable
//!    and invisible code points removed (zero-width, bidi controls, tag characters, variation
//!    selectors, soft hyphen, Hangul fillers), control characters and outer spaces removed,
//!    lower-cased;
//! 2. its confusable skeleton: the folded name with the Cyrillic, Greek, Armenian and Latin
//!    look-alikes of ASCII letters in [`CONFUSABLES`] replaced by those letters (a small table
//!    for the scripts that matter, after Unicode's `confusables.txt`);
//! 3. the tool's own name segment of each: what follows the last namespace separator (`__`, `.`,
//!    `/`, `:`).
//!
//! `tools.allow` is matched exactly (ASCII case-insensitive): a namespaced or look-alike name is
//! not the allowed tool, so it is refused (fail closed).

use unicode_normalization::UnicodeNormalization;

/// Look-alikes of ASCII letters (lower case after folding), from Unicode's confusables for the
/// Cyrillic, Greek, Armenian and Latin-extension code points that render like a Latin letter.
pub const CONFUSABLES: &[(char, char)] = &[
    // Cyrillic
    ('а', 'a'),
    ('в', 'b'),
    ('ь', 'b'),
    ('с', 'c'),
    ('ԁ', 'd'),
    ('е', 'e'),
    ('ё', 'e'),
    ('ѐ', 'e'),
    ('һ', 'h'),
    ('н', 'h'),
    ('і', 'i'),
    ('ї', 'i'),
    ('ӏ', 'l'),
    ('ј', 'j'),
    ('к', 'k'),
    ('м', 'm'),
    ('п', 'n'),
    ('о', 'o'),
    ('р', 'p'),
    ('ԛ', 'q'),
    ('г', 'r'),
    ('ѕ', 's'),
    ('т', 't'),
    ('џ', 'u'),
    ('ѵ', 'v'),
    ('ԝ', 'w'),
    ('х', 'x'),
    ('у', 'y'),
    ('ү', 'y'),
    ('з', '3'),
    // Greek
    ('α', 'a'),
    ('β', 'b'),
    ('ϲ', 'c'),
    ('ε', 'e'),
    ('η', 'n'),
    ('ι', 'i'),
    ('κ', 'k'),
    ('ν', 'v'),
    ('ο', 'o'),
    ('ρ', 'p'),
    ('τ', 't'),
    ('υ', 'u'),
    ('χ', 'x'),
    ('γ', 'y'),
    ('ω', 'w'),
    ('ϳ', 'j'),
    // Armenian
    ('օ', 'o'),
    ('ս', 'u'),
    ('ց', 'g'),
    ('հ', 'h'),
    ('ո', 'n'),
    ('զ', 'q'),
    // Latin extensions and letter-like symbols NFKC keeps
    ('ı', 'i'),
    ('ɩ', 'i'),
    ('ɑ', 'a'),
    ('ɡ', 'g'),
    ('ɢ', 'g'),
    ('ʀ', 'r'),
    ('ʏ', 'y'),
    ('ɴ', 'n'),
    ('ʟ', 'l'),
    ('ɪ', 'i'),
    ('ᴀ', 'a'),
    ('ᴄ', 'c'),
    ('ᴅ', 'd'),
    ('ᴇ', 'e'),
    ('ᴋ', 'k'),
    ('ᴍ', 'm'),
    ('ᴏ', 'o'),
    ('ᴘ', 'p'),
    ('ᴛ', 't'),
    ('ᴜ', 'u'),
    ('ᴠ', 'v'),
    ('ᴡ', 'w'),
    ('ᴢ', 'z'),
    ('ƅ', 'b'),
    ('ǀ', 'l'),
    ('‐', '-'),
    ('‑', '-'),
    ('‒', '-'),
    ('–', '-'),
    ('−', '-'),
    ('＿', '_'),
];

/// Code points removed before comparing (invisible, default-ignorable, bidi and tag characters).
fn invisible(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
        || c.is_control()
}

/// Form 1: NFKC, invisibles and controls removed, trimmed, lower-cased.
pub fn fold(name: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !invisible(*c)).collect();
    let lowered: String = cleaned.nfkc().flat_map(char::to_lowercase).collect();
    lowered
        .chars()
        .filter(|c| !invisible(*c))
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Form 2: the folded name with look-alikes replaced by the ASCII letters they imitate.
pub fn skeleton(name: &str) -> String {
    fold(name)
        .chars()
        .map(|c| {
            CONFUSABLES
                .iter()
                .find(|(from, _)| *from == c)
                .map_or(c, |(_, to)| *to)
        })
        .collect()
}

/// The tool's own name segment: what follows the last `__`, `.`, `/` or `:` (the whole name
/// when there is none, or when nothing follows it).
pub fn own_segment(name: &str) -> &str {
    let cut = [
        name.rfind("__").map(|i| i + 2),
        name.rfind(['.', '/', ':']).map(|i| i + 1),
    ]
    .into_iter()
    .flatten()
    .max();
    match cut {
        Some(i) if i < name.len() => &name[i..],
        _ => name,
    }
}

/// Every form of `name` a deny or rule glob is matched against, without repeats.
pub fn forms(name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(4);
    let folded = fold(name);
    let skel = skeleton(name);
    for f in [
        name.to_ascii_lowercase(),
        own_segment(&folded).to_owned(),
        own_segment(&skel).to_owned(),
        folded,
        skel,
    ] {
        if !f.is_empty() && !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_and_look_alike_names_reach_the_tools_own_name() {
        for name in [
            "delete_repository",
            "mcp__github__delete_repository",
            "github.delete_repository",
            "github/delete_repository",
            "github:delete_repository",
            "mcp__acme.tools__delete_repository",
            "DELETE_Repository",
            "\u{200B}delete_repository",
            "delete_repository\u{FEFF}",
            "d\u{0435}lete_repository",
            "\u{0501}\u{0435}l\u{0435}t\u{0435}_r\u{0435}p\u{043E}sit\u{043E}ry",
            "\u{FF44}\u{FF45}\u{FF4C}\u{FF45}\u{FF54}\u{FF45}_repository",
            "\u{1D41D}elete_repository",
            "del\u{00AD}ete_repository",
            "\u{E0064}delete_repository",
            " delete_repository ",
        ] {
            let f = forms(name);
            assert!(
                f.iter().any(|x| x == "delete_repository"),
                "{name:?} → {f:?}"
            );
        }
        assert_eq!(own_segment("a.b/c__d"), "d");
        assert_eq!(own_segment("trailing."), "trailing.");
        assert_eq!(own_segment("plain_name"), "plain_name");
        // Legitimate non-Latin names keep their letters where no look-alike is listed.
        assert_eq!(skeleton("поиск"), "noиck");
        assert_eq!(fold("検索"), "検索");
    }
}
