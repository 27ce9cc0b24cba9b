//! URLs in answer text and how a client treats them ([`super::reply`]): where each starts and
//! ends, whether it is fetched without a click (image-like) or only on one (link-like), and
//! whether it must be replaced.
//!
//! A URL starts at `http:`/`https:` (any case, not inside a word), at `//` or `\\` right after
//! `(`, `<`, a quote or `=` (protocol-relative, in a destination or attribute), at `www.` (a GFM
//! autolink), or at a destination (`](…`, `src=…`, `url(…`) that reads as one of those once HTML
//! entities and backslash escapes are decoded (`https&#58;//…`, `https\://…`). It ends at
//! whitespace, `<`, `>`, a quote, a backtick, an unbalanced `)`, or `]` (outside `[v6]`); bare
//! URLs lose trailing punctuation. Its kind comes from the text before it (within the window).

use super::exfil;

/// A URL to replace, in window coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Hit {
    pub start: usize,
    pub end: usize,
    pub rule: &'static str,
}

/// Attributes whose URL the browser loads by itself (and `href`, which does for `<link>`).
const FETCHED_ATTRS: &[&str] = &[
    "src",
    "srcset",
    "poster",
    "background",
    "data",
    "href",
    "xlink:href",
    "lowsrc",
    "dynsrc",
    "ping",
    "action",
    "formaction",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    MarkdownImage,
    MarkdownLink,
    RefDef,
    Css,
    HtmlImage,
    HtmlLink,
    Autolink,
    Bare,
}

impl Kind {
    /// Fetched without a click (or may be, for a reference definition).
    fn fetched(self) -> bool {
        matches!(
            self,
            Kind::MarkdownImage | Kind::RefDef | Kind::Css | Kind::HtmlImage
        )
    }

    fn rule(self) -> &'static str {
        match self {
            Kind::MarkdownImage => "exfil.markdown_image",
            Kind::MarkdownLink => "exfil.markdown_link",
            Kind::RefDef => "exfil.reference_definition",
            Kind::Css => "exfil.css_url",
            Kind::HtmlImage => "exfil.html_image",
            Kind::HtmlLink => "exfil.html_link",
            Kind::Autolink => "exfil.autolink",
            Kind::Bare => "exfil.bare_url",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Start {
    Scheme,
    Relative,
    Www,
    Encoded,
}

/// The URLs starting at or after `from` that must be replaced; `whole` when the window begins at
/// the start of the text (else a bracket whose start is cut off counts as an image's).
pub(super) fn find(window: &str, from: usize, whole: bool, allow: &[String]) -> Vec<Hit> {
    let b = window.as_bytes();
    let mut out = Vec::new();
    let mut i = from;
    while i < b.len() {
        let Some(start) = start_at(window, i) else {
            i += 1;
            continue;
        };
        let (end, term) = extent(window, i);
        if end <= i {
            i += 1;
            continue;
        }
        let kind = kind_at(window, i, whole);
        let keep_kind = match start {
            Start::Relative | Start::Encoded => kind != Kind::Bare,
            Start::Www => kind == Kind::Bare,
            Start::Scheme => true,
        };
        let raw = window.get(i..end).unwrap_or("");
        let decoded = match start {
            Start::Encoded => decode(raw),
            Start::Www => format!("http://{raw}"),
            _ => raw.to_owned(),
        };
        if keep_kind && (start != Start::Encoded || is_absolute(&decoded)) {
            let opener = i.checked_sub(1).and_then(|p| b.get(p)).copied();
            let suspect = matches!(opener, Some(b'<' | b'"' | b'\''))
                && matches!(term, Some(b'\t' | b'\n' | b'\r'));
            let allowed = exfil::url_host(&decoded).is_some_and(|h| {
                h.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'-')
                    && exfil::host_allowed(&h, allow)
            });
            let redact = suspect || (!allowed && (kind.fetched() || exfil::carries_data(&decoded)));
            if redact {
                out.push(Hit {
                    start: i,
                    end,
                    rule: if suspect && allowed {
                        "exfil.split_url"
                    } else {
                        kind.rule()
                    },
                });
            }
        }
        i = end.max(i + 1);
    }
    out
}

fn byte(window: &str, i: usize) -> u8 {
    window.as_bytes().get(i).copied().unwrap_or(0)
}

fn prev(window: &str, i: usize) -> u8 {
    i.checked_sub(1).map_or(0, |p| byte(window, p))
}

fn starts_ci(window: &str, i: usize, lit: &str) -> bool {
    window
        .as_bytes()
        .get(i..i + lit.len())
        .is_some_and(|s| s.eq_ignore_ascii_case(lit.as_bytes()))
}

fn slash(c: u8) -> bool {
    c == b'/' || c == b'\\'
}

fn start_at(window: &str, i: usize) -> Option<Start> {
    let c = byte(window, i);
    let p = prev(window, i);
    if (c == b'h' || c == b'H')
        && !p.is_ascii_alphanumeric()
        && (starts_ci(window, i, "http:") || starts_ci(window, i, "https:"))
    {
        return Some(Start::Scheme);
    }
    let opener = matches!(p, b'(' | b'<' | b'"' | b'\'' | b'=');
    if slash(c) && slash(byte(window, i + 1)) && (opener || p.is_ascii_whitespace()) {
        let h = byte(window, i + 2);
        if h.is_ascii_alphanumeric() || h >= 0x80 || h == b'[' {
            return Some(Start::Relative);
        }
    }
    if (c == b'w' || c == b'W')
        && !(p.is_ascii_alphanumeric() || matches!(p, b'.' | b'/' | b'@' | b':' | b'-' | b'_'))
        && starts_ci(window, i, "www.")
    {
        return Some(Start::Www);
    }
    if opener && (c.is_ascii_alphabetic() || c == b'&' || c == b'\\') {
        let (end, _) = extent(window, i);
        let raw = window.get(i..end).unwrap_or("");
        if raw.contains(['&', '\\']) {
            return Some(Start::Encoded);
        }
    }
    None
}

/// End of the URL starting at `i` and the byte that ended it.
fn extent(window: &str, i: usize) -> (usize, Option<u8>) {
    let rest = window.get(i..).unwrap_or("");
    let mut depth = 0usize;
    let mut bracket = false;
    let mut end = rest.len();
    for (j, c) in rest.char_indices() {
        let stop = match c {
            c if c.is_ascii_whitespace() => true,
            '<' | '>' | '"' | '\'' | '`' => true,
            '(' => {
                depth += 1;
                false
            }
            ')' if depth == 0 => true,
            ')' => {
                depth -= 1;
                false
            }
            '[' => {
                bracket = true;
                false
            }
            ']' => !bracket,
            _ => false,
        };
        if stop {
            end = j;
            break;
        }
    }
    let term = window.as_bytes().get(i + end).copied();
    let url = rest.get(..end).unwrap_or("");
    let trimmed = url.trim_end_matches(['.', ',', ':', ';', '!', '?', '*', '_', '~']);
    (i + trimmed.len(), term)
}

/// What the text before `i` makes of a URL there.
fn kind_at(window: &str, i: usize, whole: bool) -> Kind {
    let pre = window.get(..i).unwrap_or("");
    let t = pre
        .strip_suffix('<')
        .unwrap_or(pre)
        .trim_end_matches([' ', '\t']);
    if let Some(t) = t.strip_suffix("](") {
        return if image_bracket(t.as_bytes(), whole) {
            Kind::MarkdownImage
        } else {
            Kind::MarkdownLink
        };
    }
    let line_start = pre.rfind('\n').map_or(0, |n| n + 1);
    let line = pre.get(line_start..).unwrap_or("");
    if refdef_prefix(line, true) {
        return Kind::RefDef;
    }
    if line.trim_matches([' ', '\t']).is_empty() && line_start > 0 {
        let before = pre.get(..line_start - 1).unwrap_or("");
        let prev_line = before
            .get(before.rfind('\n').map_or(0, |n| n + 1)..)
            .unwrap_or("");
        if refdef_prefix(prev_line, false) {
            return Kind::RefDef;
        }
    }
    let q = pre
        .strip_suffix(['"', '\''])
        .unwrap_or(pre)
        .trim_end_matches([' ', '\t']);
    if q.len() >= 4
        && q.as_bytes()
            .get(q.len() - 4..)
            .is_some_and(|s| s.eq_ignore_ascii_case(b"url("))
    {
        return Kind::Css;
    }
    let attr = q.strip_suffix('=').map(|a| {
        let a = a.trim_end_matches([' ', '\t']);
        let start = a
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == ':'))
            .map_or(0, |n| n + 1);
        a.get(start..).unwrap_or("").to_ascii_lowercase()
    });
    match (tag_open(pre), attr.as_deref()) {
        (Some(tag), Some("href")) if tag == "a" || tag == "area" => return Kind::HtmlLink,
        (Some(_), _) => return Kind::HtmlImage,
        // An attribute whose tag lies before the window: fetched ones count as images.
        (None, Some(a)) if FETCHED_ATTRS.contains(&a) => return Kind::HtmlImage,
        (None, _) => {}
    }
    if pre.ends_with('<') {
        Kind::Autolink
    } else {
        Kind::Bare
    }
}

/// True when the `[` matching the `]` at the end of `t` follows a `!` (or when it, or the byte
/// before it, is cut off by the window's start: counted as an image).
fn image_bracket(t: &[u8], whole: bool) -> bool {
    let mut depth = 0usize;
    for k in (0..t.len()).rev() {
        match t.get(k) {
            Some(b']') => depth += 1,
            Some(b'[') if depth == 0 => {
                return if k == 0 {
                    !whole
                } else {
                    t.get(k - 1) == Some(&b'!')
                };
            }
            Some(b'[') => depth -= 1,
            _ => {}
        }
    }
    !whole
}

/// `line` is `[label]:` with up to three spaces (or blockquote markers) before and, when
/// `with_dest`, the spaces (and `<`) before a destination after it; else nothing after it.
fn refdef_prefix(line: &str, with_dest: bool) -> bool {
    let l = line.trim_start_matches(['>', ' ']);
    if line.len() - l.len() > 8 {
        return false;
    }
    let l = if with_dest {
        l.strip_suffix('<').unwrap_or(l)
    } else {
        l
    };
    let l = l.trim_end_matches([' ', '\t']);
    let Some(label) = l.strip_suffix("]:").and_then(|x| x.strip_prefix('[')) else {
        return false;
    };
    !label.is_empty() && !label.contains(']')
}

/// The name of the HTML tag open at the end of `pre` (a `<name` with no `>` after it).
fn tag_open(pre: &str) -> Option<String> {
    let b = pre.as_bytes();
    let lt = pre.rfind('<')?;
    if pre.get(lt..)?.contains('>') || !b.get(lt + 1)?.is_ascii_alphabetic() {
        return None;
    }
    let name: String = pre
        .get(lt + 1..)?
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    Some(name.to_ascii_lowercase())
}

fn is_absolute(url: &str) -> bool {
    let l = url.get(..6).unwrap_or(url).to_ascii_lowercase();
    l.starts_with("http:")
        || l.starts_with("https:")
        || (url.len() > 2 && url.bytes().take(2).all(slash))
}

/// HTML character references and backslash escapes decoded, tabs and line breaks dropped (as the
/// browser's URL parser does).
fn decode(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            if let Some(n) = rest.get(1..).and_then(|r| r.chars().next()) {
                if n.is_ascii_punctuation() && n != '\\' {
                    out.push(n);
                    rest = rest.get(1 + n.len_utf8()..).unwrap_or("");
                    continue;
                }
            }
        }
        if c == '&' {
            if let Some((ch, used)) = entity(rest) {
                out.push(ch);
                rest = rest.get(used..).unwrap_or("");
                continue;
            }
        }
        if !matches!(c, '\t' | '\n' | '\r') {
            out.push(c);
        }
        rest = rest.get(c.len_utf8()..).unwrap_or("");
    }
    out
}

/// One character reference at the start of `s` (`&#58;`, `&#x3a;`, `&colon;`, …) and its length.
fn entity(s: &str) -> Option<(char, usize)> {
    let semi = s.get(..12.min(s.len()))?.find(';')?;
    let body = s.get(1..semi)?;
    let ch = if let Some(num) = body.strip_prefix('#') {
        let n = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        char::from_u32(n)?
    } else {
        match body {
            "colon" => ':',
            "sol" => '/',
            "bsol" => '\\',
            "period" => '.',
            "amp" => '&',
            "quest" => '?',
            "equals" => '=',
            "num" => '#',
            "commat" => '@',
            "Tab" => '\t',
            "NewLine" => '\n',
            _ => return None,
        }
    };
    Some((ch, semi + 1))
}
