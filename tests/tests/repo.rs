//! Repository-level checks: every Envoy config validates with the real binary, and the core
//! stays host-free.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

use llmfw_tests::paths::{envoy_bin, repo_root};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        ) {
            out.push(path);
        }
    }
}

#[test]
fn every_envoy_config_passes_envoy_validate() {
    let root = repo_root();
    let mut files = Vec::new();
    yaml_files(&root.join("envoy"), &mut files);
    assert!(!files.is_empty(), "no Envoy configs under envoy/");
    for file in files {
        let out = Command::new(envoy_bin())
            .current_dir(&root)
            .args([
                "--mode",
                "validate",
                "--disable-hot-restart",
                "-l",
                "warn",
                "-c",
            ])
            .arg(&file)
            .output()
            .expect("run envoy --mode validate");
        assert!(
            out.status.success(),
            "{} failed validation:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn core_depends_on_no_host_runtime() {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .current_dir(repo_root())
        .args([
            "tree",
            "-p",
            "llmfw-core",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--offline",
        ])
        .output()
        .expect("run cargo tree");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(tree.contains("llmfw-core"), "{tree}");
    for forbidden in ["proxy-wasm", "tokio", "tonic", "sqlx", "axum", "hyper"] {
        assert!(
            !tree
                .lines()
                .any(|l| l.split_whitespace().next() == Some(forbidden)),
            "llmfw-core depends on {forbidden}:\n{tree}"
        );
    }
}

/// Every repository path named in backticks in `docs/architecture.md` exists.
#[test]
fn architecture_doc_names_only_existing_paths() {
    let root = repo_root();
    let doc = std::fs::read_to_string(root.join("docs/architecture.md"))
        .expect("read docs/architecture.md");
    let mut checked = 0;
    for (i, chunk) in doc.split('`').enumerate() {
        let looks_like_path = i % 2 == 1
            && chunk.contains('/')
            && !chunk.starts_with('/')
            && !chunk.contains("://")
            && !chunk
                .chars()
                .any(|c| c.is_whitespace() || "<>{}*|".contains(c));
        if looks_like_path {
            assert!(
                root.join(chunk).exists(),
                "docs/architecture.md names `{chunk}`, which does not exist"
            );
            checked += 1;
        }
    }
    assert!(
        checked >= 10,
        "only {checked} paths found in docs/architecture.md"
    );
}
