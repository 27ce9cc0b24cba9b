//! `docs/config-reference.md` stays in sync with the plugin config schema.
//!
//! The schema is discovered from the parser itself: every struct rejects unknown fields, and
//! serde's error for a probe field lists the fields it expected. So the test walks the real
//! schema without a hand-kept list and compares it with the first column of the doc's table.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{json, Value};

const PROBE: &str = "__llmfw_probe__";

/// The fields `serde` expected at the place `wrap` puts an object, or `None` if that place is
/// not a struct with `deny_unknown_fields` (a leaf, a map, free-form JSON).
fn expected_fields(wrap: &dyn Fn(Value) -> Value) -> Option<Vec<String>> {
    let doc = wrap(json!({ PROBE: 1 }));
    let err = llmfw_core::config::Config::from_json(doc.to_string().as_bytes())
        .err()?
        .to_string();
    let rest = err
        .split(&format!("unknown field `{PROBE}`, expected "))
        .nth(1)?;
    let rest = rest.split(" at line").next().unwrap_or(rest);
    Some(
        rest.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
    )
}

/// Walks the schema: dotted paths, `[]` for array elements.
fn walk(path: &str, wrap: &dyn Fn(Value) -> Value, out: &mut BTreeSet<String>) {
    let Some(fields) = expected_fields(wrap) else {
        return;
    };
    for field in fields {
        let here = if path.is_empty() {
            field.clone()
        } else {
            format!("{path}.{field}")
        };
        out.insert(here.clone());
        let f = field.clone();
        let as_object = move |inner: Value| wrap(json!({ f.as_str(): inner }));
        if expected_fields(&as_object).is_some() {
            walk(&here, &as_object, out);
            continue;
        }
        let f = field.clone();
        let as_array = move |inner: Value| wrap(json!({ f.as_str(): [inner] }));
        if expected_fields(&as_array).is_some() {
            walk(&format!("{here}[]"), &as_array, out);
        }
    }
}

fn documented_fields() -> BTreeSet<String> {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config-reference.md");
    let text = std::fs::read_to_string(&doc).expect("read docs/config-reference.md");
    let section = text
        .split("## Filter plugin config")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .and_then(|s| s.split("\n### ").next())
        .expect("a '## Filter plugin config' section");
    let mut out = BTreeSet::new();
    for line in section.lines() {
        let Some(first) = line.strip_prefix("| `") else {
            continue;
        };
        if let Some(field) = first.split('`').next() {
            // `a` / `b` rows document siblings; keep each name.
            out.insert(field.to_owned());
        }
    }
    out
}

#[test]
fn config_reference_documents_exactly_the_schema() {
    let mut schema = BTreeSet::new();
    walk("", &|v| v, &mut schema);
    assert!(
        schema.contains("state_service.timeout_ms"),
        "schema discovery failed: {schema:?}"
    );
    let documented = documented_fields();
    // Every leaf must be documented; an object may be documented as a whole or only by its fields.
    let is_leaf = |p: &String| {
        !schema
            .iter()
            .any(|q| q.starts_with(&format!("{p}.")) || q.starts_with(&format!("{p}[].")))
    };
    let missing: Vec<_> = schema
        .iter()
        .filter(|p| is_leaf(p) && !documented.contains(*p))
        .collect();
    let stale: Vec<_> = documented.difference(&schema).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "docs/config-reference.md is out of sync with the plugin config schema\n  not documented: {missing:?}\n  documented but not in the schema: {stale:?}"
    );
}
