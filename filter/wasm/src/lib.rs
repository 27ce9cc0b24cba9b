//! `llmfw-filter`: the proxy-wasm adapter of the llmfw firewall. Glue only, no policy.
//!
//! It translates Envoy callbacks into calls on one [`llmfw_core::flow::Exchange`] per HTTP stream
//! and writes back exactly what the core decides (local replies, rewritten bodies, `x-llmfw-*`
//! headers, the `Evaluate` gRPC callout). Every hostcall result is handled: the SDK's convenience
//! getters unwrap, so only the `hostcalls` functions returning `Result` are used here.
//!
//! Envoy facts this relies on (DESIGN §7): request headers return `Continue` (pausing there hangs);
//! bodies are paused until `end_of_stream`; response headers also return `Continue` (Pause there
//! stops body callbacks) and cannot be changed afterwards, so the decision headers are published as
//! filter state `wasm.llmfw_*` for the companion Lua filter in `envoy/envoy.yaml`, which holds the
//! headers of inspected responses (`wasm.llmfw_hold`) and sets `x-llmfw-*`; the callout target is a
//! serialised `envoy.config.core.v3.GrpcService`, never a bare cluster name.

mod glue;
mod memory;

use glue::Root;
use proxy_wasm::types::LogLevel;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Info);
    proxy_wasm::set_root_context(|_| -> Box<dyn proxy_wasm::traits::RootContext> { Box::new(Root::default()) });
}}
