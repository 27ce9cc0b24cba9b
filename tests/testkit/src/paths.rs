//! Where the harness finds the binaries it runs.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

/// The repository root (the workspace that contains this crate, at `tests/testkit/`).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `<repo>/target`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"))
}

/// The Envoy binary: `LLMFW_ENVOY` or the one `make` installs into `.venv`.
pub fn envoy_bin() -> PathBuf {
    std::env::var_os("LLMFW_ENVOY")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/envoy"))
}

/// The filter module built by `make wasm`.
pub fn wasm_module() -> PathBuf {
    target_dir().join("wasm32-wasip1/wasm/llmfw_filter.wasm")
}

/// A binary of this workspace built by `cargo build --bins` (debug profile unless
/// `LLMFW_PROFILE` says otherwise).
pub fn workspace_bin(name: &str) -> PathBuf {
    let profile = std::env::var("LLMFW_PROFILE").unwrap_or_else(|_| "debug".to_owned());
    target_dir().join(profile).join(name)
}

/// A fresh directory for one test's files and logs, under `target/e2e/`.
pub fn scratch_dir(label: &str) -> std::io::Result<PathBuf> {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let dir = target_dir()
        .join("e2e")
        .join(format!("{label}-{}-{n}", std::process::id()));
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

pub use crate::free_port;
