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
