//! `llmfw-state`: the llmfw state service.
//!
//! Contract (DESIGN §4): the filter calls `llmfw.state.v1.StateService/Evaluate` with the tool
//! events of one exchange. The service loads the operator's campaign state from the store, runs the
//! pure [`engine`], applies the resulting delta to the store in one durable transaction and only
//! then replies. A retried request (same operator, request id and call ids) is never counted twice.
//! Store failures reply `UNAVAILABLE`, so the filter's configured failure mode applies.
//!
//! Modules: [`engine`] (pure rules), [`store`] (`Store` trait, Postgres and SQLite), [`grpc`]
//! (tonic service, the one error → status table), [`admin`] (health, readiness, Prometheus
//! metrics, the token-protected JSON admin API), [`metrics`] (metric names and counters),
//! [`retention`] (event pruning), [`config`] (CLI), [`tls`] (optional TLS/mTLS on the gRPC port),
//! [`server`] (wiring), [`batch`] (group commit of concurrent `Evaluate` calls).
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod admin;
pub mod batch;
pub mod bench;
pub mod config;
pub mod grpc;
pub mod metrics;
pub mod retention;
pub mod server;
pub mod store;
pub mod tls;

/// The pure campaign engine (`llmfw-engine`), re-exported under its old path.
pub use llmfw_engine as engine;
