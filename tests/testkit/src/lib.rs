//! `llmfw-testkit`: running the real parts on loopback — child processes that die with their
//! guard ([`process`]), the Envoy bootstrap rendered from `envoy/envoy.yaml` ([`envoy`]), free
//! ports, where the binaries are ([`paths`]) and, with feature `pg` (default), fresh PostgreSQL
//! databases, throwaway clusters and a connection-cutting proxy ([`pg`]).
//!
//! A leaf: it depends on no crate of this workspace, so `llmfw replay` (without `pg`), the e2e
//! harness (`llmfw-tests`) and the state service's own tests all use it without a dependency
//! loop (`docs/architecture.md`, enforced by `tests/tests/repo.rs`).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod envoy;
pub mod paths;
#[cfg(feature = "pg")]
pub mod pg;
pub mod process;

/// A loopback port that was free a moment ago.
///
/// Ports come from 20000–32767, below Linux's ephemeral range (32768–60999), so an outgoing
/// connection of another process cannot take the number between this check and the bind of the
/// process that receives it; a process-wide counter spreads parallel callers apart.
pub fn free_port() -> std::io::Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..2000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20000 + (seed.wrapping_add(n.wrapping_mul(97)) % 12768);
        let port = u16::try_from(port).unwrap_or(20000);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
