//! `llmfw replay` as a user runs it: the binary starts its private stack (real Envoy + the built
//! module + `llmfw-state` on SQLite + the scripted upstream), sends every scenario step as
//! provider traffic and scores what came back.
//!
//! - the seed's 180 campaigns end with the same final decision per campaign as
//!   `llmfw eval`, for openai-chat (JSON and streamed), anthropic (streamed) and mcp;
//! - a hijack session (benign steps, a fetched page with an injected instruction, the attacker's
//!   call) is stopped at the injected tool result or at the attacker's call in every format;
//! - the state service killed midway: the replay fails, says so, and leaves no process behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use llmfw_tests::paths::{repo_root, scratch_dir, workspace_bin};
use serde_json::Value;

fn seed() -> PathBuf {
    std::env::var_os("LLMFW_SEED_DATASET")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/data/seed/phase2_dataset.json"))
}

fn eval_file(name: &str) -> PathBuf {
    repo_root().join("tests/eval").join(name)
}

/// `id → final_action` of a `results.jsonl`.
fn finals(results: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(results).unwrap();
    text.lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|v| {
            (
                v["id"].as_str().unwrap().to_owned(),
                v["final_action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn run(mut cmd: Command, what: &str) -> String {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{stderr}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn replay_cmd(scenarios: &Path, out: &Path, provider: &str, stream: bool) -> Command {
    let mut cmd = Command::new(workspace_bin("llmfw"));
    cmd.arg("replay")
        .arg("--scenarios")
        .arg(scenarios)
        .arg("--policy")
        .arg(eval_file("policy.json"))
        .arg("--state-config")
        .arg(eval_file("state.json"))
        .args(["--provider", provider])
        .arg("--out")
        .arg(out);
    if stream {
        cmd.arg("--stream");
    }
    cmd
}

/// Native `llmfw eval` of the seed, then the replay; final decisions must be equal.
fn seed_matches_eval(label: &str, provider: &str, stream: bool) {
    let dir = scratch_dir(label).unwrap();
    let mut eval = Command::new(workspace_bin("llmfw"));
    eval.arg("eval")
        .arg("--scenarios")
        .arg(seed())
        .arg("--policy")
        .arg(eval_file("policy.json"))
        .arg("--state-config")
        .arg(eval_file("state.json"))
        .arg("--out")
        .arg(dir.join("native"));
    run(eval, "llmfw eval");
    let out = dir.join("replay");
    run(replay_cmd(&seed(), &out, provider, stream), "llmfw replay");

    let native = finals(&dir.join("native/results.jsonl"));
    let replayed = finals(&out.join("results.jsonl"));
    assert_eq!(native.len(), 180, "the seed has 180 campaigns");
    let differ: Vec<String> = native
        .iter()
        .filter(|(id, a)| replayed.get(*id) != Some(a))
        .map(|(id, a)| format!("{id}: eval {a}, replay {:?}", replayed.get(id)))
        .collect();
    assert!(differ.is_empty(), "{provider} stream={stream}: {differ:#?}");
    // and the decisions are not all the same: the comparison could fail
    let blocked = replayed.values().filter(|a| *a == "block").count();
    assert!((60..=120).contains(&blocked), "{blocked} campaigns blocked");
    for f in [
        "summary.json",
        "summary.md",
        "steps.jsonl",
        "risk.svg",
        "rates.svg",
    ] {
        let len = std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 200, "{f} missing or empty");
    }
    let svg = std::fs::read_to_string(out.join("risk.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "risk.svg has no lines"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn seed_replayed_as_openai_chat_matches_eval() {
    seed_matches_eval("replay-chat", "openai-chat", false);
}

#[test]
fn seed_replayed_as_streamed_openai_chat_matches_eval() {
    seed_matches_eval("replay-chat-sse", "openai-chat", true);
}

#[test]
fn seed_replayed_as_streamed_anthropic_matches_eval() {
    seed_matches_eval("replay-anthropic-sse", "anthropic", true);
}

#[test]
fn seed_replayed_as_mcp_matches_eval() {
    seed_matches_eval("replay-mcp", "mcp", false);
}

#[test]
fn hijack_is_stopped_in_every_format() {
    let scenarios = eval_file("hijack.jsonl");
    for (provider, stream) in [
        ("openai-chat", false),
        ("openai-chat", true),
        ("openai-responses", false),
        ("openai-responses", true),
        ("anthropic", false),
        ("anthropic", true),
        ("mcp", false),
        ("mcp", true),
    ] {
        let dir = scratch_dir("replay-hijack").unwrap();
        run(
            replay_cmd(&scenarios, &dir, provider, stream),
            "llmfw replay",
        );
        let text = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
        let v: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        let actions: Vec<&str> = v["actions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        // step 1 is benign; step 2's result carries the injection; step 3 is the attacker's call
        assert_eq!(actions.len(), 3, "{provider} stream={stream}: {actions:?}");
        assert_eq!(
            actions[0], "allow",
            "{provider} stream={stream}: {actions:?}"
        );
        assert!(
            actions[1] == "redact" || actions[2] == "block",
            "{provider} stream={stream}: not stopped: {actions:?}"
        );
        // what this policy does today: both
        assert_eq!(
            &actions[1..],
            ["redact", "block"],
            "{provider} stream={stream}"
        );
        assert_eq!(v["exfil_allowed"], false);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn alive(pid: u32) -> bool {
    // a zombie counts as gone: it runs nothing and holds no port
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let state = s.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z')
        })
        .unwrap_or(false)
}

#[test]
fn state_service_killed_midway_fails_clearly_and_leaves_no_process() {
    let dir = scratch_dir("replay-kill").unwrap();
    let mut cmd = replay_cmd(&seed(), &dir, "openai-chat", false);
    let stderr_path = dir.join("replay.stderr");
    cmd.stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap());
    let mut child = cmd.spawn().unwrap();
    // wait until the stack is up and campaigns are running
    let pids_file = dir.join("stack/pids");
    let deadline = Instant::now() + Duration::from_secs(60);
    let progressed = || {
        std::fs::read_to_string(&stderr_path)
            .unwrap_or_default()
            .contains(" campaigns · ")
    };
    while !(pids_file.exists() && progressed()) {
        assert!(Instant::now() < deadline, "replay did not get going");
        assert!(child.try_wait().unwrap().is_none(), "replay ended early");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pids: Vec<(u32, String)> = std::fs::read_to_string(&pids_file)
        .unwrap()
        .lines()
        .map(|l| {
            let (pid, name) = l.split_once(' ').unwrap();
            (pid.parse().unwrap(), name.to_owned())
        })
        .collect();
    assert_eq!(pids.len(), 3, "{pids:?}");
    let state = pids.iter().find(|(_, n)| n == "state service").unwrap().0;
    assert!(Command::new("kill")
        .args(["-KILL", &state.to_string()])
        .status()
        .unwrap()
        .success());

    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "replay did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(
        !status.success(),
        "replay succeeded without its state service:\n{stderr}"
    );
    assert!(
        stderr.contains("state service exited unexpectedly")
            && stderr.contains("replay stopped after"),
        "{stderr}"
    );
    assert!(
        !dir.join("results.jsonl").exists(),
        "partial results were written"
    );
    for (pid, name) in &pids {
        assert!(!alive(*pid), "{name} (pid {pid}) is still running");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
