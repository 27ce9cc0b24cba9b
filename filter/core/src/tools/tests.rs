use super::*;
use serde_json::json;

fn deny(p: &[&str]) -> DenyList {
    DenyList::compile(&p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>()).unwrap()
}

#[test]
fn globs() {
    let d = deny(&["delete_*", "*_shell", "exec", "a*b*c"]);
    assert_eq!(d.matches("delete_user"), Some("delete_*"));
    assert_eq!(d.matches("DELETE_user"), Some("delete_*"));
    assert_eq!(d.matches("run_shell"), Some("*_shell"));
    assert_eq!(d.matches("exec"), Some("exec"));
    assert_eq!(d.matches("exec2"), None);
    assert_eq!(d.matches("undelete_user"), None);
    assert_eq!(d.matches("shell"), None);
    assert_eq!(d.matches("axxbyyc"), Some("a*b*c"));
    assert_eq!(d.matches("ac"), None);
    assert!(deny(&["*"]).matches("anything").is_some());
    // Namespaced (MCP aggregators), look-alike and invisible forms reach the tool's own name.
    let d = deny(&["delete_*"]);
    for name in [
        "mcp__github__delete_repository",
        "github.delete_repository",
        "github/delete_repository",
        "\u{200B}delete_repository",
        "d\u{0435}lete_repository",
        "DELETE_REPOSITORY",
        "\u{FF44}elete_repository",
    ] {
        assert_eq!(d.matches(name), Some("delete_*"), "{name:?}");
        assert_eq!(
            d.matches_exact(name).is_some(),
            name == "DELETE_REPOSITORY",
            "{name:?}"
        );
    }
    assert_eq!(d.matches("github.undelete_repository"), None);
}

#[test]
fn targets_by_key_and_shape() {
    let args = json!({
        "target": "10.0.0.5",
        "url": "https://example.com/x",
        "path": "/etc/passwd",
        "host": ["db.internal", "10.0.0.0/24", 5],
        "database": "customers",
        "other": "ignored.example.com",
        "file": "notes.txt"
    });
    let t = extract_targets(&args);
    let got: Vec<(&str, TargetKind)> = t.iter().map(|t| (t.value.as_str(), t.kind)).collect();
    assert_eq!(
        got,
        vec![
            ("10.0.0.5", TargetKind::Ip),
            ("db.internal", TargetKind::Host),
            ("10.0.0.0/24", TargetKind::Ip),
            ("https://example.com/x", TargetKind::Url),
            ("/etc/passwd", TargetKind::Path),
            ("notes.txt", TargetKind::Path),
            ("customers", TargetKind::Database),
        ]
    );
    assert!(extract_targets(&json!("str")).is_empty());
    assert_eq!(classify_target("target", "::1"), TargetKind::Ip);
    assert_eq!(classify_target("domain", "example.com"), TargetKind::Host);
}

#[test]
fn digest_is_canonical() {
    let a: Value = serde_json::from_str(r#"{"b":1,"a":{"y":[1,{"d":2,"c":3}],"x":"é"}}"#).unwrap();
    let b: Value =
        serde_json::from_str(r#"{ "a": {"x":"é","y":[1,{"c":3,"d":2}]}, "b": 1 }"#).unwrap();
    assert_eq!(
        canonical_json(&a),
        r#"{"a":{"x":"é","y":[1,{"c":3,"d":2}]},"b":1}"#
    );
    assert_eq!(args_digest(&a), args_digest(&b));
    assert_eq!(args_digest(&a).len(), 64);
    // Array order matters.
    assert_ne!(args_digest(&json!([1, 2])), args_digest(&json!([2, 1])));
    assert_eq!(
        sha256_hex(b""),
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn tools_config_cases() {
    let data = include_str!("../../testdata/tools/config_cases.jsonl");
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let name = case["name"].as_str().unwrap();
        let result = crate::config::Config::from_json(case["config"].to_string().as_bytes());
        match (case["error"].as_str(), result) {
            (None, Ok(_)) => {}
            (None, Err(e)) => panic!("{name}: unexpected error {e}"),
            (Some(want), Ok(_)) => panic!("{name}: expected error containing {want:?}"),
            (Some(want), Err(e)) => {
                assert!(
                    e.to_string().contains(want),
                    "{name}: {e} does not contain {want:?}"
                )
            }
        }
    }
}

fn eval_config() -> crate::config::Config {
    let mut v: Value =
        serde_json::from_str(include_str!("../../../../tests/eval/policy.json")).unwrap();
    v["tools"]["classes"] = json!([{"tool": "my_scanner*", "phase": "recon", "category": "scan"}]);
    v["tools"]["scope"]["path_prefixes"] = json!(["/srv/lab"]);
    crate::config::Config::from_json(v.to_string().as_bytes()).unwrap()
}

fn phase_name(p: llmfw_api::v1::Phase) -> &'static str {
    use llmfw_api::v1::Phase;
    match p {
        Phase::Unknown => "unknown",
        Phase::Recon => "recon",
        Phase::Exploit => "exploit",
        Phase::Lateral => "lateral",
        Phase::Collection => "collection",
        Phase::Exfiltration => "exfiltration",
    }
}

#[test]
fn classify_cases_from_testdata() {
    let cfg = eval_config();
    let data = include_str!("../../testdata/tools/classify_cases.jsonl");
    let mut failures = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let case: Value = serde_json::from_str(line).unwrap();
        let tool = case["tool"].as_str().unwrap();
        let c = classify(&cfg, tool, &case["args"]);
        let got = (c.category.as_str(), phase_name(c.phase));
        let want = (
            case["category"].as_str().unwrap(),
            case["phase"].as_str().unwrap(),
        );
        if got != want {
            failures.push(format!("{line}\n  got {got:?}"));
            continue;
        }
        if let Some(targets) = case.get("targets").and_then(Value::as_array) {
            let got: Vec<(String, bool)> = c
                .targets
                .iter()
                .map(|t| (t.value.clone(), t.in_scope))
                .collect();
            let want: Vec<(String, bool)> = targets
                .iter()
                .map(|t| (t[0].as_str().unwrap().to_owned(), t[1].as_bool().unwrap()))
                .collect();
            if got != want {
                failures.push(format!("{line}\n  got targets {got:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
