//! A digest of every finding (rule, severity, channel, path, span) over the evaluation corpora,
//! for checking that a performance change leaves detection bit-for-bit unchanged:
//! `cargo run -p llmfw --example findings_digest` before and after, and compare the lines.
//! Each text is scanned on every text channel and as a `bash.command` argument.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use llmfw_core::config::Config;
use llmfw_core::detect::{Channel, Finding};
use serde_json::Value;

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|e| e == "jsonl") {
            out.push(p);
        }
    }
}

fn text_of(rec: &Value) -> Option<&str> {
    ["text", "prompt", "payload"]
        .iter()
        .find_map(|k| rec.get(*k).and_then(Value::as_str))
}

fn add(h: &mut DefaultHasher, n: &mut usize, fs: &[Finding]) {
    for f in fs {
        format!("{f:?}").hash(h);
        *n += 1;
    }
}

fn main() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let data = std::env::args()
        .nth(1)
        .map_or_else(|| repo.join("../shared/data"), PathBuf::from);
    let policy = std::fs::read(repo.join("tests/eval/policy.json")).unwrap_or_default();
    let config = Config::from_json(&policy).unwrap();
    let d = &config.detect;
    let mut list = Vec::new();
    files(&data, &mut list);
    let channels = [
        Channel::System,
        Channel::User,
        Channel::Assistant,
        Channel::ToolResult,
        Channel::ToolDefinition,
    ];
    let mut all = DefaultHasher::new();
    for p in list {
        let text = std::fs::read_to_string(&p).unwrap();
        let mut h = DefaultHasher::new();
        let (mut records, mut n) = (0usize, 0usize);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let Ok(rec) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            let Some(t) = text_of(&rec) else { continue };
            records += 1;
            for ch in channels {
                add(&mut h, &mut n, &d.scan_text(t, ch));
            }
            let args = serde_json::json!({ "command": t });
            add(&mut h, &mut n, &d.scan_call("bash", &args));
        }
        let digest = h.finish();
        digest.hash(&mut all);
        println!(
            "{:016x} {records:>7} records {n:>8} findings {}",
            digest,
            p.strip_prefix(&data).unwrap_or(&p).display()
        );
    }
    println!("{:016x} all", all.finish());
}
