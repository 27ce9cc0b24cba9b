//! Runs the tool classifier over the shared corpora (`../shared/data/corpora`) and checks
//! conservative floors: benign tldr shell commands are mostly unclassified (no phase), and Atomic
//! Red Team procedures of the exfiltration / lateral-movement / credential-access / collection /
//! discovery tactics mostly get the matching phase. Prints the measured rates. Skipped (with a
//! note) when the corpora are not beside the repository.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use llmfw_api::v1::Phase;
use llmfw_core::config::Config;
use llmfw_core::tools::classify;
use serde_json::{json, Value};

fn corpora() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/corpora");
    p.is_dir().then_some(p)
}

fn config() -> Config {
    Config::from_json(include_bytes!("../../../tests/eval/policy.json")).unwrap()
}

fn lines(path: PathBuf) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn benign_shell_commands_are_mostly_unclassified() {
    let Some(dir) = corpora() else {
        eprintln!("corpora not found; skipped");
        return;
    };
    let cfg = config();
    let records = lines(dir.join("benign_tool_args/shell_commands.jsonl"));
    let (mut n, mut phased, mut n_dual, mut phased_dual) = (0usize, 0usize, 0usize, 0usize);
    let mut by_phase: BTreeMap<String, usize> = BTreeMap::new();
    let mut examples: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in &records {
        let text = r["text"].as_str().unwrap_or("");
        let dual = r["dual_use_tool"].as_bool().unwrap_or(false);
        let c = classify(&cfg, "bash", &json!({ "command": text }));
        let has_phase = c.phase != Phase::Unknown;
        if dual {
            n_dual += 1;
            phased_dual += usize::from(has_phase);
        } else {
            n += 1;
            phased += usize::from(has_phase);
            if has_phase {
                *by_phase.entry(c.category.clone()).or_default() += 1;
                let ex = examples.entry(c.category).or_default();
                if ex.len() < 6 {
                    ex.push(text.chars().take(80).collect());
                }
            }
        }
    }
    let rate = phased as f64 / n as f64;
    println!(
        "tldr benign (not dual-use): {phased}/{n} = {:.2}% got a phase; by category {by_phase:?}",
        rate * 100.0
    );
    println!("examples {examples:#?}");
    println!(
        "tldr dual-use: {phased_dual}/{n_dual} = {:.1}% got a phase",
        phased_dual as f64 * 100.0 / n_dual.max(1) as f64
    );
    // Measured 1.39 % (mostly impacket and similar offensive tools not marked dual-use).
    assert!(rate < 0.02, "too many benign commands classified: {rate}");
}

#[test]
fn atomic_procedures_get_their_phase() {
    let Some(dir) = corpora() else {
        eprintln!("corpora not found; skipped");
        return;
    };
    let cfg = config();
    let records = lines(dir.join("atomic_red_team/procedures.jsonl"));
    let want: &[(&str, Phase)] = &[
        ("exfiltration", Phase::Exfiltration),
        ("lateral-movement", Phase::Lateral),
        ("credential-access", Phase::Lateral),
        ("collection", Phase::Collection),
        ("discovery", Phase::Recon),
        ("reconnaissance", Phase::Recon),
    ];
    let mut hits: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for r in &records {
        let Some(call) = r["tool_calls"].get(0) else {
            continue;
        };
        let tool = call["function"].as_str().unwrap_or("");
        let c = classify(&cfg, tool, &call["args"]);
        for t in r["tactics"].as_array().into_iter().flatten() {
            let t = t.as_str().unwrap_or("");
            if let Some((name, phase)) = want.iter().find(|(n, _)| *n == t) {
                let e = hits.entry(name).or_default();
                e.0 += 1;
                e.1 += usize::from(c.phase == *phase);
                e.2 += usize::from(c.phase != Phase::Unknown);
            }
        }
    }
    for (tactic, (n, right, any)) in &hits {
        println!(
            "atomic {tactic}: {right}/{n} = {:.1}% right phase, {:.1}% any phase",
            *right as f64 * 100.0 / *n as f64,
            *any as f64 * 100.0 / *n as f64
        );
    }
    let rate = |t: &str| hits.get(t).map_or(0.0, |(n, r, _)| *r as f64 / *n as f64);
    // Floors measured on the development corpora (see the printed numbers), kept conservative.
    // Measured: exfiltration 55.6 %, lateral-movement 60.7 %, credential-access 30.7 %.
    assert!(rate("exfiltration") >= 0.5);
    assert!(rate("lateral-movement") >= 0.55);
    assert!(rate("credential-access") >= 0.28);
}
