//! `llmfw-core`: the host-free core of the llmfw Envoy filter.
//!
//! Contract: bytes and compiled config in, decisions out. No proxy-wasm, tokio, tonic or sqlx; builds
//! for `wasm32-wasip1` and natively, so all policy is tested here without Envoy. Time and ids come in
//! as arguments ([`flow::Clock`]). The adapter (`llmfw-filter`) drives one [`flow::Exchange`] per
//! HTTP stream and writes back exactly what it returns.
//!
//! - [`config`]: plugin config JSON → validated [`config::Config`]
//! - [`wire`]: provider formats → neutral view, and surgical edits back
//! - [`detect`]: findings (injection, secrets, exfiltration, argument threats) and decisions
//! - [`sanitize`]: normalised and decoded variants of a text, Unicode smuggling signals
//! - [`tools`]: deny globs, target extraction, canonical args digest
//! - [`identity`]: tenant/operator/session, conversation fingerprint
//! - [`verdict`], [`enforce`]: actions, refusals and `x-llmfw-*` headers
//! - [`flow`]: the per-exchange state machine
//! - [`metrics`]: metric name constants

pub mod config;
pub mod detect;
pub mod enforce;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
pub mod identity;
pub mod metrics;
pub mod sanitize;
pub mod tools;
pub mod verdict;
pub mod wire;
