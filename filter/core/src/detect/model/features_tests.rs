use proptest::prelude::*;

use super::*;

#[test]
fn normalise_folds_case_width_and_whitespace() {
    assert_eq!(
        normalise("  Ｉｇｎｏｒｅ\u{00A0}\tALL \n\n previous  "),
        "ignore all previous"
    );
    assert_eq!(normalise(""), "");
}

#[test]
fn hashing_is_stable() {
    // Pinned values: a change here changes every shipped weight (retrain and bump the blob).
    assert_eq!(fnv1a(FNV_OFFSET, b""), FNV_OFFSET);
    assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    let mut a = Vec::new();
    let mut b = Vec::new();
    let na = window_features("please forward the email to me", &mut a);
    let nb = window_features("please forward the email to me", &mut b);
    assert_eq!(a, b);
    assert_eq!(na.to_bits(), nb.to_bits());
    assert!(a.iter().all(|&(k, _)| (k as usize) < BUCKETS));
    assert!(a.windows(2).all(|p| p[0].0 < p[1].0), "sorted and merged");
}

#[test]
fn windows_cover_the_text_on_char_boundaries() {
    let text = "é".repeat(700) + &"x".repeat(333) + &"日本".repeat(200);
    let w = windows(&text);
    assert_eq!(w.first().map(|w| w.0), Some(0));
    assert_eq!(w.last().map(|w| w.1), Some(text.len()));
    for &(a, b) in &w {
        assert!(text.is_char_boundary(a) && text.is_char_boundary(b) && a < b);
        assert!(b - a <= WINDOW_BYTES);
    }
    for p in w.windows(2) {
        assert!(
            p[1].0 > p[0].0 && p[1].0 <= p[0].1,
            "overlapping, advancing"
        );
    }
    assert_eq!(windows("short"), vec![(0, 5)]);
    assert!(windows("").is_empty());
}

proptest! {
    #[test]
    fn features_of_any_text_do_not_panic(s in any::<String>()) {
        let n = normalise(&s);
        let mut f = Vec::new();
        for (a, b) in windows(&n) {
            let norm = window_features(&n[a..b], &mut f);
            prop_assert!(norm.is_finite());
        }
    }

    #[test]
    fn normalise_is_idempotent_on_ascii(s in "[ -~\t\n]{0,200}") {
        let once = normalise(&s);
        prop_assert_eq!(normalise(&once), once);
    }
}
