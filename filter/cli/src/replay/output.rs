//! What a replay writes (`results.jsonl`, `steps.jsonl`, `summary.*`, the plots,
//! `comparison.md`) and the progress bar it draws on stderr.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::Context;
use llmfw_eval::{self as eval, plot, report, Labels, Scenario, ScenarioResult};
use serde_json::Value;

use super::{Campaign, ReplayArgs};

pub(super) fn write_outputs(
    args: &ReplayArgs,
    scenarios: &[(Scenario, Labels)],
    campaigns: Vec<Campaign>,
) -> anyhow::Result<String> {
    let out = &args.out;
    let mut results = String::new();
    let mut steps = String::new();
    for c in &campaigns {
        results.push_str(&serde_json::to_string(&c.result)?);
        results.push('\n');
        for s in &c.steps {
            steps.push_str(&serde_json::to_string(s)?);
            steps.push('\n');
        }
    }
    std::fs::write(out.join("results.jsonl"), results)?;
    std::fs::write(out.join("steps.jsonl"), steps)?;
    let labels: Vec<&Labels> = scenarios.iter().map(|(_, l)| l).collect();
    let rows: Vec<ScenarioResult> = campaigns.iter().map(|c| c.result.clone()).collect();
    let summary = eval::summarise(&rows, &labels, &[]);
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary)?,
    )?;
    let mode = format!(
        "llmfw replay, {}{}",
        args.provider.name(),
        if args.stream { " streamed" } else { "" }
    );
    let mut md = report::markdown_titled(&summary, &mode);
    std::fs::write(out.join("summary.md"), &md)?;
    let lines: Vec<plot::RiskLine> = campaigns
        .iter()
        .map(|c| plot::RiskLine {
            malicious: c.malicious,
            risk: c.risk.clone(),
        })
        .collect();
    plot::risk(
        &out.join("risk.svg"),
        &format!("Risk per step ({mode})"),
        &lines,
    )?;
    plot::rates(
        &out.join("rates.svg"),
        &format!("ASR / FPR per group ({mode})"),
        &summary,
    )?;
    if let Some(native) = &args.compare {
        let table = compare(native, &rows)?;
        std::fs::write(out.join("comparison.md"), &table)?;
        md.push('\n');
        md.push_str(&table);
    }
    Ok(md)
}

/// `comparison.md`: final decision per campaign, replay vs `llmfw eval`.
fn compare(native: &Path, rows: &[ScenarioResult]) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(native).with_context(|| format!("reading {}", native.display()))?;
    let mut by_id = std::collections::HashMap::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).with_context(|| native.display().to_string())?;
        by_id.insert(
            v["id"].as_str().unwrap_or_default().to_owned(),
            v["final_action"].as_str().unwrap_or_default().to_owned(),
        );
    }
    let mut same = 0;
    let mut diff = Vec::new();
    for r in rows {
        match by_id.get(&r.id) {
            Some(n) if n == r.final_action => same += 1,
            n => diff.push(format!(
                "| {} | {} | {} |",
                r.id,
                n.map_or("(missing)", String::as_str),
                r.final_action
            )),
        }
    }
    let mut out = format!(
        "Final decision, replay through Envoy vs `llmfw eval`: {same} of {} campaigns agree.\n",
        rows.len()
    );
    if !diff.is_empty() {
        out.push_str("\n| campaign | eval | replay |\n|---|---|---|\n");
        out.push_str(&diff.join("\n"));
        out.push('\n');
    }
    Ok(out)
}

/// A progress bar on stderr: redrawn in place on a terminal, a line per 10 % otherwise.
pub(super) struct Progress {
    campaigns: usize,
    steps: usize,
    tty: bool,
    last_decile: AtomicUsize,
}

impl Progress {
    pub(super) fn new(campaigns: usize, steps: usize) -> Progress {
        Progress {
            campaigns,
            steps,
            tty: std::io::stderr().is_terminal(),
            last_decile: AtomicUsize::new(0),
        }
    }

    pub(super) fn show(&self, done: usize, steps: usize, started: Instant) {
        let width = 30;
        let filled = done * width / self.campaigns.max(1);
        let line = format!(
            "[{}{}] {done}/{} campaigns · {steps}/{} steps · {:.1} s",
            "#".repeat(filled),
            "-".repeat(width - filled),
            self.campaigns,
            self.steps,
            started.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = write!(err, "\r{line}");
            let _ = err.flush();
        } else {
            let decile = done * 10 / self.campaigns.max(1);
            if decile > self.last_decile.swap(decile, Ordering::Relaxed) {
                let _ = writeln!(err, "{line}");
            }
        }
    }

    pub(super) fn finish(&self, started: Instant) {
        let mut err = std::io::stderr().lock();
        if self.tty {
            let _ = writeln!(err);
        }
        let _ = writeln!(
            err,
            "llmfw replay: {} campaigns, {} steps in {:.1} s",
            self.campaigns,
            self.steps,
            started.elapsed().as_secs_f64()
        );
    }
}
