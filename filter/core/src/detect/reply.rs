//! Redaction of the model's own answer text, in place (issue 16): images and links that would
//! carry data to a host outside `detect.exfil_allow_hosts`, secrets and PII (the rules of
//! [`super::secrets`]) are replaced by a marker; everything else passes byte for byte.
//!
//! What is replaced (the URL only, or the secret's value only):
//! - URLs a client fetches without a click, to a host not allow-listed, always: markdown images
//!   (`![x](URL)`), reference definitions (`[1]: URL`, since a `![x][1]` before or after may use
//!   one), HTML attributes other than `<a href>` (`<img src>`, `srcset`, `<link href>`, …) and CSS
//!   `url(…)`;
//! - links (markdown `[x](URL)`, `<a href>`, `<URL>` autolinks, bare URLs) to a host not
//!   allow-listed when the URL carries data (a query value, a placeholder, a long segment);
//! - any URL opened by `<` or a quote and cut by a tab or line break (a browser drops those and
//!   joins the host back together), whatever the host;
//! - secret and PII matches; after a private-key header, everything to the `-----END` line;
//! - a token longer than the holdback bound (it cannot be judged whole).
//!
//! The same code serves JSON answers (the whole text in one [`ReplyRedactor::push`]) and streams
//! (text as it arrives in deltas), and gives the same text for every way of splitting the input:
//! the text is decided in segments whose ends depend on the text alone, never on where a delta
//! ended. A segment ends after a whitespace (or CJK) character at least [`MIN_SEGMENT`] bytes in,
//! but never inside digit groups (`4111 1111 …`), inside a URL, or, once the line holds a word
//! that secret rules anchor on (`password`, `token`, `Bearer`, `BEGIN`, …), before the end of the
//! line. Each segment is scanned with up to [`CONTEXT`] bytes of the text before it, so a URL's
//! `![x](` or a secret's `password is` may lie in text already sent. Undecided text stays below
//! `detect.response_holdback_bytes`: past it the segment is cut at the last whitespace, and a
//! token without any is replaced ([`OVERLONG_MARKER`]).

use std::collections::BTreeMap;
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

use super::{fold, reply_urls, Detector};

/// Replaces a URL.
pub const URL_MARKER: &str = "[llmfw:redacted-url]";
/// Replaces a secret or PII value.
pub const SECRET_MARKER: &str = "[llmfw:redacted-secret]";
/// Replaces a token longer than the holdback bound.
pub const OVERLONG_MARKER: &str = "[llmfw:redacted-overlong]";
/// Default `detect.response_holdback_bytes`.
pub const DEFAULT_HOLDBACK_BYTES: usize = 4096;
/// Smallest accepted `detect.response_holdback_bytes`.
pub const MIN_HOLDBACK_BYTES: usize = 256;
/// Largest accepted `detect.response_holdback_bytes`.
pub const MAX_HOLDBACK_BYTES: usize = 65536;
/// A segment is at least this long (unless the text ends or the bound forces a cut).
pub const MIN_SEGMENT: usize = 48;
/// Bytes of earlier text each segment is scanned with.
pub const CONTEXT: usize = 256;
/// Rule id of a token replaced for its length.
pub const RULE_OVERLONG: &str = "response.overlong_token";

/// Words secret rules anchor on whose values may follow after spaces: once a line holds one, the
/// rest of the line is decided as a whole.
const LINE_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "key",
    "token",
    "auth",
    "bearer",
    "credential",
    "login",
    "begin",
    "unseal",
    "ssws",
    "senha",
];

fn line_words() -> Option<&'static AhoCorasick> {
    static AC: OnceLock<Option<AhoCorasick>> = OnceLock::new();
    AC.get_or_init(|| {
        AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .build(LINE_WORDS)
            .ok()
    })
    .as_ref()
}

fn has_line_word(s: &str) -> bool {
    line_words().is_some_and(|ac| ac.is_match(s))
}

/// Longest [`LINE_WORDS`] entry, in bytes.
const LINE_WORD_MAX: usize = 10;

/// True when a [`LINE_WORDS`] word ends in `text[from..to]` (it may begin before `from`).
fn line_word_ends_in(text: &str, from: usize, to: usize) -> bool {
    let start = floor_boundary(text, from.saturating_sub(LINE_WORD_MAX - 1));
    let Some(window) = text.get(start..to) else {
        return false;
    };
    line_words().is_some_and(|ac| {
        ac.find_overlapping_iter(window)
            .any(|m| start + m.end() > from)
    })
}

/// What was replaced: spans and rule ids (never content).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactions {
    /// Spans replaced.
    pub count: usize,
    /// Rule id → matches.
    pub rules: BTreeMap<String, usize>,
}

impl Redactions {
    /// True when nothing was replaced.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Adds another record.
    pub fn merge(&mut self, other: &Redactions) {
        self.count += other.count;
        for (r, n) in &other.rules {
            *self.rules.entry(r.clone()).or_default() += n;
        }
    }

    fn rule(&mut self, id: &str) {
        *self.rules.entry(id.to_owned()).or_default() += 1;
    }
}

enum Cut {
    Wait,
    At(usize),
    Overlong(usize),
}

/// Incremental redactor of one text (a message, a content part, a content block).
#[derive(Debug, Clone)]
pub struct ReplyRedactor {
    holdback: usize,
    /// Raw text before `pending` (at most [`CONTEXT`] bytes).
    ctx: String,
    /// Raw text not decided yet.
    pending: String,
    /// The current line holds a [`LINE_WORDS`] word.
    line_held: bool,
    /// Inside a private key block (redacted to its `-----END` line).
    pem: bool,
    /// The rest of an overlong token is dropped.
    skip_token: bool,
    /// `ctx` still begins at the start of the text.
    ctx_whole: bool,
    stats: Redactions,
}

impl ReplyRedactor {
    /// A redactor holding back at most `holdback` bytes.
    pub fn new(holdback: usize) -> ReplyRedactor {
        ReplyRedactor {
            holdback: holdback.max(MIN_SEGMENT * 2),
            ctx: String::new(),
            pending: String::new(),
            line_held: false,
            pem: false,
            skip_token: false,
            ctx_whole: true,
            stats: Redactions::default(),
        }
    }

    /// Adds text; returns the text decided by it (possibly empty, possibly with earlier text).
    pub fn push(&mut self, det: &Detector, text: &str) -> String {
        if !det.reply_enabled() {
            return text.to_owned();
        }
        self.pending.push_str(text);
        self.drain(det, false)
    }

    /// The text ended: returns the rest.
    pub fn finish(&mut self, det: &Detector) -> String {
        self.drain(det, true)
    }

    /// Bytes held back.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }

    /// What was replaced so far.
    pub fn redactions(&self) -> &Redactions {
        &self.stats
    }

    fn drain(&mut self, det: &Detector, end: bool) -> String {
        let mut out = String::new();
        while !self.pending.is_empty() {
            match self.next_cut(end) {
                Cut::Wait => break,
                Cut::At(c) => out.push_str(&self.segment(det, c, false)),
                Cut::Overlong(c) => out.push_str(&self.segment(det, c, true)),
            }
        }
        out
    }

    /// Where the next segment ends, from the text alone (see the module doc).
    fn next_cut(&self, end: bool) -> Cut {
        let text = self.pending.as_str();
        let b = text.as_bytes();
        let mut held = self.line_held;
        // Words are looked for only in the text walked so far, once each byte (plus the longest
        // word's length of overlap): a cut early in a long pending text costs its own length.
        let mut checked = 0;
        let mut url_open = false;
        let mut last_any: Option<usize> = None;
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            let (ch, len) = if c < 0x80 {
                (char::from(c), 1)
            } else {
                match text.get(i..).and_then(|t| t.chars().next()) {
                    Some(ch) => (ch, ch.len_utf8()),
                    None => break,
                }
            };
            let next = i + len;
            if next > self.holdback {
                break;
            }
            let ascii_ws = matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0C);
            match c {
                b' ' | b'\t' | b'\n' | b'\r' | 0x0C | b'<' | b'>' | b'"' | b'\'' | b'`' => {
                    url_open = false;
                }
                b'/' | b'\\' if i > 0 && matches!(b.get(i - 1), Some(b':' | b'/' | b'\\')) => {
                    url_open = true;
                }
                b'.' if i >= 3
                    && b.get(i - 3..i)
                        .is_some_and(|p| p.eq_ignore_ascii_case(b"www")) =>
                {
                    url_open = true;
                }
                _ => {}
            }
            let after = text.get(next..).and_then(|t| t.chars().next());
            let cjk = len > 1 && cjk_break(ch);
            let weak = len > 1 && after.is_some_and(|a| !a.is_ascii());
            if ascii_ws || ((cjk || weak) && !url_open) {
                last_any = Some(next);
            }
            if (ascii_ws || (cjk && !url_open)) && next >= MIN_SEGMENT {
                held |= line_word_ends_in(text, checked, next);
                checked = next;
                let Some(a) = after else {
                    return if end { Cut::At(b.len()) } else { Cut::Wait };
                };
                let digits = ascii_ws
                    && i > 0
                    && b.get(i - 1).is_some_and(u8::is_ascii_digit)
                    && a.is_ascii_digit();
                if !digits && (!held || c == b'\n') {
                    return Cut::At(next);
                }
            }
            if c == b'\n' {
                held = false;
                checked = next;
            }
            i = next;
        }
        if b.len() > self.holdback {
            return match last_any {
                Some(c) => Cut::At(c),
                None => Cut::Overlong(floor_boundary(text, self.holdback)),
            };
        }
        if end {
            Cut::At(b.len())
        } else {
            Cut::Wait
        }
    }

    /// Decides `pending[..cut]` and returns its redacted form.
    fn segment(&mut self, det: &Detector, cut: usize, overlong: bool) -> String {
        let rest = self.pending.split_off(cut);
        let seg = std::mem::replace(&mut self.pending, rest);
        let base = self.ctx.len();
        let mut window = std::mem::take(&mut self.ctx);
        window.push_str(&seg);
        let out = if overlong {
            let first = !self.skip_token;
            self.skip_token = true;
            if first {
                self.stats.count += 1;
                self.stats.rule(RULE_OVERLONG);
                OVERLONG_MARKER.to_owned()
            } else {
                String::new()
            }
        } else {
            self.redact_segment(det, &window, base)
        };
        match seg.rfind('\n') {
            Some(p) => self.line_held = has_line_word(seg.get(p..).unwrap_or("")),
            None => self.line_held |= has_line_word(&seg),
        }
        let keep = ceil_boundary(&window, window.len().saturating_sub(CONTEXT));
        if keep > 0 {
            self.ctx_whole = false;
        }
        window.drain(..keep);
        self.ctx = window;
        out
    }

    fn redact_segment(&mut self, det: &Detector, window: &str, base: usize) -> String {
        let len = window.len();
        let mut spans: Vec<(usize, usize, &'static str)> = Vec::new();
        let mut from = base;
        if self.skip_token {
            self.skip_token = false;
            let seg = window.get(base..).unwrap_or("");
            let n = seg
                .find(|c: char| c.is_ascii_whitespace() || !c.is_ascii())
                .unwrap_or(seg.len());
            if n > 0 {
                spans.push((base, base + n, ""));
                from = base + n;
            }
        }
        if self.pem {
            match pem_end(window, base) {
                Some(e) => {
                    spans.push((base, e, ""));
                    self.pem = false;
                    from = e;
                }
                None => {
                    spans.push((base, len, ""));
                    return self.compose(window, base, spans);
                }
            }
        }
        let folded = fold(window);
        for m in det.secrets.find_all(window, &folded) {
            let (s, e) = (m.offset, m.offset + m.len);
            if e <= from {
                continue;
            }
            self.stats.rule(m.rule_id);
            let mut e = e;
            let header = window
                .get(s..e)
                .is_some_and(|t| t.starts_with("-----BEGIN"));
            if m.rule_id == "secret.private_key_pem" && header {
                match pem_end(window, e) {
                    Some(end) => e = end,
                    None => {
                        e = len;
                        self.pem = true;
                    }
                }
            }
            spans.push((s.max(from), e, SECRET_MARKER));
        }
        for hit in reply_urls::find(window, from, self.ctx_whole, &det.config.exfil_allow_hosts) {
            self.stats.rule(hit.rule);
            spans.push((hit.start, hit.end, URL_MARKER));
        }
        self.compose(window, base, spans)
    }

    /// The segment `window[base..]` with `spans` replaced (overlapping spans merged; a URL marker
    /// wins over a secret marker, either over a silent removal).
    fn compose(
        &mut self,
        window: &str,
        base: usize,
        mut spans: Vec<(usize, usize, &'static str)>,
    ) -> String {
        let seg = window.get(base..).unwrap_or("");
        if spans.is_empty() {
            return seg.to_owned();
        }
        spans.sort_by_key(|s| (s.0, std::cmp::Reverse(s.1)));
        let rank = |m: &str| match m {
            URL_MARKER => 2,
            SECRET_MARKER => 1,
            _ => 0,
        };
        let mut merged: Vec<(usize, usize, &'static str)> = Vec::new();
        for (s, e, m) in spans {
            match merged.last_mut() {
                Some(last) if s < last.1 => {
                    last.1 = last.1.max(e);
                    if rank(m) > rank(last.2) {
                        last.2 = m;
                    }
                }
                _ => merged.push((s, e, m)),
            }
        }
        let mut out = String::with_capacity(seg.len());
        let mut at = base;
        for (s, e, m) in merged {
            out.push_str(window.get(at..s).unwrap_or(""));
            out.push_str(m);
            if !m.is_empty() {
                self.stats.count += 1;
            }
            at = e;
        }
        out.push_str(window.get(at..).unwrap_or(""));
        out
    }
}

/// End of the line holding the first `-----END` at or after `from` (past its line break).
fn pem_end(window: &str, from: usize) -> Option<usize> {
    let rest = window.get(from..)?;
    let at = rest.find("-----END")?;
    let line = rest.get(at..)?;
    let end = line.find('\n').map_or(line.len(), |n| n + 1);
    Some(from + at + end)
}

/// A segment may end after a CJK ideograph, kana or Hangul syllable or CJK punctuation (texts
/// without spaces), but not after the full stops IDNA reads as dots (`。．｡`).
fn cjk_break(c: char) -> bool {
    matches!(c,
        '\u{3001}' | '\u{3003}'..='\u{303F}' | '\u{3040}'..='\u{30FF}' | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}' | '\u{F900}'..='\u{FAFF}'
        | '\u{FF01}' | '\u{FF0C}' | '\u{FF1A}' | '\u{FF1B}' | '\u{FF1F}')
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

impl Detector {
    /// True when answer text is redacted (`detect.enabled` and `detect.response_text: redact`).
    pub fn reply_enabled(&self) -> bool {
        self.config.enabled && self.config.response_text
    }

    /// A redactor for one answer text under this config.
    pub fn reply_redactor(&self) -> ReplyRedactor {
        ReplyRedactor::new(self.config.response_holdback_bytes)
    }

    /// One whole answer text, redacted, and what was replaced.
    pub fn redact_reply(&self, text: &str) -> (String, Redactions) {
        if !self.reply_enabled() || text.is_empty() {
            return (text.to_owned(), Redactions::default());
        }
        let mut r = self.reply_redactor();
        let mut out = r.push(self, text);
        out.push_str(&r.finish(self));
        (out, r.stats)
    }
}

#[cfg(test)]
#[path = "reply_tests.rs"]
mod tests;
