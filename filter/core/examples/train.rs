//! Trains the learned detector (`make train`): reads `.cache/train/dataset.jsonl`
//! (scripts/train/synth.py), splits it by group (70 % train, 15 % validation, 15 % test, by a hash
//! of the group so a carrier and its clean twin stay together), trains on the train split, picks
//! each channel's threshold on the validation split (the lowest with validation FPR ≤ 0.2 %),
//! reports test-split metrics per source, and writes `filter/core/src/detect/model/weights.bin`.
//!
//! `train --loso` adds leave-one-source-out: for each source, a model trained (and thresholded)
//! without it, tested on all of that source's records. Tables go to `.cache/train/metrics.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use llmfw_core::detect::model::features::fnv1a;
use llmfw_core::detect::model::train::{train, Params, Sample};
use llmfw_core::detect::model::{Model, CHANNELS};
use llmfw_core::detect::Channel;
use serde_json::Value;

const CHANNEL_NAMES: [&str; CHANNELS] = ["user", "tool_result", "tool_definition"];
const CHANNEL_OF: [Channel; CHANNELS] =
    [Channel::User, Channel::ToolResult, Channel::ToolDefinition];
/// Validation FPR the shipped threshold may not exceed.
const TARGET_FPR: f64 = 0.002;

#[derive(Clone)]
struct Rec {
    text: String,
    channel: usize,
    positive: bool,
    loso: String,
    split: u8, // 0 train, 1 validation, 2 test
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load() -> Vec<Rec> {
    let path = std::env::var("LLMFW_TRAIN_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".cache/train"))
        .join("dataset.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or("").to_owned();
            let channel = CHANNEL_NAMES
                .iter()
                .position(|c| *c == s("channel"))
                .unwrap();
            let h = fnv1a(0xcbf2_9ce4_8422_2325, s("group").as_bytes()) % 100;
            Rec {
                text: s("text"),
                channel,
                positive: v["label"].as_u64() == Some(1),
                loso: s("loso"),
                split: if h < 70 {
                    0
                } else if h < 85 {
                    1
                } else {
                    2
                },
            }
        })
        .collect()
}

fn fit(recs: &[&Rec]) -> (Model, Vec<u8>) {
    let samples: Vec<Sample> = recs
        .iter()
        .map(|r| Sample {
            text: r.text.clone(),
            channel: r.channel,
            positive: r.positive,
        })
        .collect();
    let blob = train(&samples, Params::default()).to_blob();
    (Model::from_vec(blob.clone()).unwrap(), blob)
}

fn scores(m: &Model, recs: &[&Rec]) -> Vec<f32> {
    recs.iter()
        .map(|r| {
            m.score(&r.text, CHANNEL_OF[r.channel])
                .map_or(0.0, |s| s.score)
        })
        .collect()
}

/// The lowest threshold whose FPR on `neg` is at most `fpr` (just above the k-th highest score).
fn threshold_at(mut neg: Vec<f32>, fpr: f64) -> f32 {
    if neg.is_empty() {
        return 0.5;
    }
    neg.sort_by(|a, b| b.total_cmp(a));
    let k = (fpr * neg.len() as f64).floor() as usize;
    let t = neg[k.min(neg.len() - 1)];
    // Strictly above the (k+1)-th highest negative: at most k negatives reach it.
    f32::from_bits(t.to_bits() + 1).clamp(0.01, 0.999)
}

struct Thresholds {
    shipped: [f32; CHANNELS],
    at_1pct: [f32; CHANNELS],
}

fn thresholds(m: &Model, val: &[&Rec]) -> Thresholds {
    let s = scores(m, val);
    let mut t = Thresholds {
        shipped: [0.5; CHANNELS],
        at_1pct: [0.5; CHANNELS],
    };
    for c in 0..CHANNELS {
        let neg: Vec<f32> = val
            .iter()
            .zip(&s)
            .filter(|(r, _)| r.channel == c && !r.positive)
            .map(|(_, &x)| x)
            .collect();
        t.shipped[c] = threshold_at(neg.clone(), TARGET_FPR);
        t.at_1pct[c] = threshold_at(neg, 0.01);
    }
    t
}

/// (n, flagged at the shipped threshold, flagged at the 1 %-FPR threshold).
fn rate(m: &Model, t: &Thresholds, recs: &[&Rec]) -> (usize, usize, usize) {
    let s = scores(m, recs);
    let mut out = (recs.len(), 0, 0);
    for (r, x) in recs.iter().zip(s) {
        out.1 += usize::from(x >= t.shipped[r.channel]);
        out.2 += usize::from(x >= t.at_1pct[r.channel]);
    }
    out
}

fn pct(a: usize, n: usize) -> String {
    if n == 0 {
        "–".into()
    } else {
        format!("{:.1}", 100.0 * a as f64 / n as f64)
    }
}

/// `train --score`: JSON lines on stdin (`text`, `channel`), the built-in model's score of each.
fn score_stdin() {
    let m = Model::builtin().unwrap();
    for line in std::io::stdin().lines() {
        let line = line.unwrap();
        let Ok(v) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let text = v["text"].as_str().unwrap_or("");
        let ch = match v["channel"].as_str().unwrap_or("tool_result") {
            "user" => Channel::User,
            "tool_definition" => Channel::ToolDefinition,
            _ => Channel::ToolResult,
        };
        let s = m.score(text, ch).map_or(0.0, |s| s.score);
        println!(
            "{s:.3}\t{}",
            v["name"].as_str().or(v["id"].as_str()).unwrap_or("")
        );
    }
}

fn main() {
    if std::env::args().any(|a| a == "--score") {
        return score_stdin();
    }
    let loso_mode = std::env::args().any(|a| a == "--loso");
    let recs = load();
    let of = |split: u8, skip: Option<&str>| -> Vec<&Rec> {
        recs.iter()
            .filter(|r| r.split == split && Some(r.loso.as_str()) != skip)
            .collect()
    };
    let train_set = of(0, None);
    eprintln!(
        "train: {} records, validation {}, test {}",
        train_set.len(),
        of(1, None).len(),
        of(2, None).len()
    );
    let (model, blob) = fit(&train_set);
    let t = thresholds(&model, &of(1, None));
    let mut md = String::new();
    writeln!(
        md,
        "records: {} (train {}, validation {}, test {})\n",
        recs.len(),
        train_set.len(),
        of(1, None).len(),
        of(2, None).len()
    )
    .unwrap();
    writeln!(md, "| channel | shipped threshold (validation FPR ≤ 0.2 %) | threshold at 1 % validation FPR |\n|---|---:|---:|").unwrap();
    for (c, name) in CHANNEL_NAMES.iter().enumerate() {
        writeln!(md, "| {name} | {:.3} | {:.3} |", t.shipped[c], t.at_1pct[c]).unwrap();
    }
    // Per source and channel, test split.
    let mut groups: BTreeMap<(String, usize, bool), Vec<&Rec>> = BTreeMap::new();
    for r in &recs {
        groups
            .entry((r.loso.clone(), r.channel, r.positive))
            .or_default()
            .push(r);
    }
    let mut loso_rows: BTreeMap<(String, usize, bool), (usize, usize, usize)> = BTreeMap::new();
    if loso_mode {
        let sources: std::collections::BTreeSet<&str> =
            recs.iter().map(|r| r.loso.as_str()).collect();
        // LLMFW_LOSO_ONLY=a,b restricts the left-out sources (quicker iterations).
        let only = std::env::var("LLMFW_LOSO_ONLY").unwrap_or_default();
        for src in sources {
            if !only.is_empty() && !only.split(',').any(|o| o == src) {
                continue;
            }
            let train_wo = of(0, Some(src));
            let (m, _) = fit(&train_wo);
            let tw = thresholds(&m, &of(1, Some(src)));
            for ((s, c, p), rs) in &groups {
                if s == src {
                    let r = rate(&m, &tw, rs);
                    loso_rows.insert((s.clone(), *c, *p), r);
                    eprintln!(
                        "loso {src} {} {}: {}/{} flagged",
                        CHANNEL_NAMES[*c],
                        if *p { "pos" } else { "neg" },
                        r.1,
                        r.0
                    );
                }
            }
        }
    }
    writeln!(md, "\n| source | channel | label | n test | flagged % (shipped) | flagged % (1 % FPR) | n left out | left out: flagged % (shipped) | left out: flagged % (1 % FPR) |\n|---|---|---|---:|---:|---:|---:|---:|---:|").unwrap();
    for ((s, c, p), rs) in &groups {
        let test: Vec<&Rec> = rs.iter().copied().filter(|r| r.split == 2).collect();
        let (n, a, b) = rate(&model, &t, &test);
        let (ln, la, lb) = loso_rows
            .get(&(s.clone(), *c, *p))
            .copied()
            .unwrap_or((0, 0, 0));
        writeln!(
            md,
            "| {s} | {} | {} | {n} | {} | {} | {ln} | {} | {} |",
            CHANNEL_NAMES[*c],
            if *p { "positive" } else { "benign" },
            pct(a, n),
            pct(b, n),
            pct(la, ln),
            pct(lb, ln)
        )
        .unwrap();
    }
    let out = root().join(".cache/train/metrics.md");
    std::fs::write(&out, &md).unwrap();
    print!("{md}");
    let dest = root().join("filter/core/src/detect/model/weights.bin");
    std::fs::write(&dest, &blob).unwrap();
    eprintln!("weights: {} bytes -> {}", blob.len(), dest.display());
}
