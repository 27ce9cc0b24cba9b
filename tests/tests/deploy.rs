//! Deployment artefacts (issue 6): the `envoy/examples/` configs and their plugin configs, the
//! Istio WasmPlugin's plugin config generated from the OpenAI example, and the Kubernetes
//! manifests rendered and checked by `scripts/validate-k8s.sh` (schemas + checkov).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use llmfw_tests::envoy::inline_plugin_config;
use llmfw_tests::paths::{repo_root, workspace_bin};
use serde_json::Value;

/// The example the Istio WasmPlugin's `pluginConfig` is generated from.
const ISTIO_SOURCE: &str = "envoy/examples/openai-sidecar/plugin.json";
/// The generated strategic-merge patch.
const ISTIO_PATCH: &str = "k8s/base/istio/wasmplugin-config.patch.yaml";

fn examples() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(repo_root().join("envoy/examples"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Each example has its envoy.yaml, plugin.json and README.md; the plugin config inlined in
/// envoy.yaml is plugin.json; the filter's own parser accepts it (`llmfw check-config`); the
/// README shows how to run it and a transcript.
#[test]
fn envoy_examples_are_complete_and_consistent() {
    let dirs = examples();
    let names: Vec<String> = dirs
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in ["jwt-identity", "mcp-server", "openai-sidecar", "streaming"] {
        assert!(
            names.iter().any(|n| n == want),
            "envoy/examples/{want} missing: {names:?}"
        );
    }
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let yaml = std::fs::read_to_string(dir.join("envoy.yaml")).unwrap();
        let plugin = read_json(&dir.join("plugin.json"));
        let inline = inline_plugin_config(&yaml).unwrap();
        assert_eq!(
            inline, plugin,
            "envoy/examples/{name}: the plugin config in envoy.yaml differs from plugin.json"
        );
        let out = Command::new(workspace_bin("llmfw"))
            .arg("check-config")
            .arg(dir.join("plugin.json"))
            .output()
            .expect("run llmfw check-config (make build builds it)");
        assert!(
            out.status.success(),
            "envoy/examples/{name}/plugin.json: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let readme = std::fs::read_to_string(dir.join("README.md"))
            .unwrap_or_else(|_| panic!("envoy/examples/{name}/README.md missing"));
        assert!(
            readme.contains(&format!("envoy/examples/{name}/envoy.yaml")),
            "envoy/examples/{name}/README.md does not say how to run it"
        );
        assert!(
            readme.contains("\n$ curl"),
            "envoy/examples/{name}/README.md has no transcript"
        );
    }
}

/// `v` with every object's keys in sorted order, whether or not serde_json's `preserve_order`
/// feature is on in this build (another crate of the workspace may turn it on).
fn sorted(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            serde_json::Value::Object(
                keys.into_iter()
                    .map(|k| (k.clone(), sorted(&m[k])))
                    .collect(),
            )
        }
        serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// The Istio patch that sets `spec.pluginConfig`, as generated from [`ISTIO_SOURCE`].
fn wasmplugin_patch() -> String {
    let plugin = sorted(&read_json(&repo_root().join(ISTIO_SOURCE)));
    let json = serde_json::to_string_pretty(&plugin)
        .unwrap()
        .replace('\n', "\n    ");
    format!(
        "# GENERATED from {ISTIO_SOURCE} by `make k8s-plugin-config`: do not edit\n\
         # (tests/tests/deploy.rs fails when it is stale). JSON is YAML.\n\
         apiVersion: extensions.istio.io/v1alpha1\n\
         kind: WasmPlugin\n\
         metadata:\n  name: llmfw\n\
         spec:\n  pluginConfig: {json}\n"
    )
}

/// `k8s/base/istio/wasmplugin-config.patch.yaml` is the current rendering of the example's
/// plugin.json. `LLMFW_BLESS=1` rewrites it (`make k8s-plugin-config`).
#[test]
fn wasmplugin_plugin_config_is_generated_from_the_example() {
    let path = repo_root().join(ISTIO_PATCH);
    let want = wasmplugin_patch();
    if std::env::var_os("LLMFW_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{ISTIO_PATCH} is stale: run `make k8s-plugin-config`"
    );
}

/// Renders every overlay and validates it: Kubernetes schemas, Istio CRD schemas, checkov, and
/// the properties below (scripts/validate-k8s.sh, scripts/k8s/check_rendered.py).
#[test]
fn k8s_overlays_render_and_pass_schemas_and_checkov() {
    let root = repo_root();
    let out = Command::new(root.join("scripts/validate-k8s.sh"))
        .current_dir(&root)
        .output()
        .expect("run scripts/validate-k8s.sh");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scripts/validate-k8s.sh failed:\n{text}"
    );
    for want in [
        "==> kubectl kustomize k8s/overlays/dev",
        "==> kubectl kustomize k8s/overlays/prod",
        "WasmPlugin llmfw: valid",
        "DestinationRule llmfw-state: valid",
        "EnvoyFilter llmfw-path-normalization: valid",
        " 0 failed,",
    ] {
        assert!(text.contains(want), "no `{want}` in:\n{text}");
    }
}
