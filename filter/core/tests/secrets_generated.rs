//! The generated provider-format secrets and near misses (`testdata/secrets/generated.jsonl`,
//! from `scripts/secrets/generate.py`: each token built from its provider's documented format)
//! through the detector as a tool argument, against the bars in `testdata/secrets/bars.json`:
//! every family's secrets found at `min_found_pct` or more, its benign records (near misses:
//! short, placeholders, variables, public material) flagged at `max_benign_pct` or less and at
//! `max_benign_pct_overall` over all of them. Families in `no_bar` are reported only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use llmfw_core::config::Config;
use llmfw_core::detect::Family;
use serde_json::{json, Value};

fn records() -> Vec<Value> {
    include_str!("../testdata/secrets/generated.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn generated_provider_secrets_meet_the_bars() {
    let bars: Value = serde_json::from_str(include_str!("../testdata/secrets/bars.json")).unwrap();
    let min_found = bars["min_found_pct"].as_f64().unwrap();
    let max_benign = bars["max_benign_pct"].as_f64().unwrap();
    let max_benign_overall = bars["max_benign_pct_overall"].as_f64().unwrap();
    let no_bar: Vec<&str> = bars["no_bar"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let cfg = Config::from_json(b"{}").unwrap();
    // (family, label) -> (flagged, n)
    let mut tally: BTreeMap<(String, String), (u32, u32)> = BTreeMap::new();
    let mut missed = Vec::new();
    for r in records() {
        let text = r["text"].as_str().unwrap();
        let findings = cfg.detect.scan_call("http_post", &json!({ "body": text }));
        let hit = findings.iter().any(|f| f.family == Family::Secret);
        let key = (
            r["family"].as_str().unwrap().to_owned(),
            r["label"].as_str().unwrap().to_owned(),
        );
        let t = tally.entry(key).or_default();
        t.0 += u32::from(hit);
        t.1 += 1;
        if r["label"] == "secret" && !hit {
            missed.push(r["id"].as_str().unwrap().to_owned());
        }
    }
    let pct = |(a, n): (u32, u32)| 100.0 * f64::from(a) / f64::from(n.max(1));
    let mut failures = Vec::new();
    let (mut benign_hits, mut benign_n) = (0, 0);
    for ((family, label), &t) in &tally {
        println!("{family:>16} {label:>7} {:>3} {:6.1} %", t.1, pct(t));
        if label == "secret" && pct(t) < min_found {
            failures.push(format!("{family}: {:.1} % found < {min_found}", pct(t)));
        }
        if label == "benign" && !no_bar.contains(&family.as_str()) {
            benign_hits += t.0;
            benign_n += t.1;
            if pct(t) > max_benign {
                failures.push(format!(
                    "{family}: {:.1} % of near misses flagged > {max_benign}",
                    pct(t)
                ));
            }
        }
    }
    let overall = pct((benign_hits, benign_n));
    println!("benign overall {benign_n} {overall:.2} %; missed: {missed:?}");
    assert!(
        tally.len() > 100,
        "generator output too small: {}",
        tally.len()
    );
    if overall > max_benign_overall {
        failures.push(format!(
            "near misses overall {overall:.2} % > {max_benign_overall}"
        ));
    }
    assert!(failures.is_empty(), "{failures:#?}\nmissed: {missed:?}");
}
