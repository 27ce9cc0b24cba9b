//! The floor of a body-inspecting proxy-wasm filter in this Envoy, for `scripts/bench/split.py`
//! (variants `floor_body` and `floor_callout`): what buffering the request and response bodies,
//! copying them into the VM and, with `{"callout": true}`, one gRPC call per response cost before
//! any parsing or detection. Not shipped; built by `split.py` with
//! `cargo build -p llmfw-filter --example floor --target wasm32-wasip1 --profile wasm`.
//!
//! The callout is `grpc.health.v1.Health/Check` on the `llmfw_state` cluster: the smallest call the
//! state service answers, with no store access.

use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel};
use std::time::Duration;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Warn);
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Floor::default()) });
}}

#[derive(Default)]
struct Floor {
    callout: bool,
}

impl Context for Floor {}

impl RootContext for Floor {
    fn on_configure(&mut self, _size: usize) -> bool {
        let config = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        self.callout = String::from_utf8_lossy(&config).contains("\"callout\": true");
        true
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            callout: self.callout,
            seen: 0,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Stream {
    callout: bool,
    /// Bytes copied into the VM (kept so the copies are not optimised away).
    seen: usize,
}

/// `envoy.config.core.v3.GrpcService { envoy_grpc { cluster_name: "llmfw_state" } }`.
fn upstream() -> Vec<u8> {
    let cluster = b"llmfw_state";
    let mut inner = vec![0x0a, cluster.len() as u8];
    inner.extend_from_slice(cluster);
    let mut out = vec![0x0a, inner.len() as u8];
    out.extend(inner);
    out
}

impl Context for Stream {
    fn on_grpc_call_response(&mut self, _token: u32, _status: u32, size: usize) {
        if let Ok(Some(reply)) = hostcalls::get_buffer(BufferType::GrpcReceiveBuffer, 0, size) {
            self.seen += reply.len();
        }
        let _ = hostcalls::resume_http_response();
    }
}

impl HttpContext for Stream {
    fn on_http_request_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        if let Ok(Some(body)) = hostcalls::get_buffer(BufferType::HttpRequestBody, 0, size) {
            self.seen += body.len();
        }
        Action::Continue
    }

    fn on_http_response_headers(&mut self, _n: usize, _end_of_stream: bool) -> Action {
        let _ = hostcalls::set_property(vec!["llmfw_hold"], Some(b"1"));
        Action::Continue
    }

    fn on_http_response_body(&mut self, size: usize, end_of_stream: bool) -> Action {
        if !end_of_stream {
            return Action::Pause;
        }
        if let Ok(Some(body)) = hostcalls::get_buffer(BufferType::HttpResponseBody, 0, size) {
            self.seen += body.len();
        }
        if !self.callout {
            return Action::Continue;
        }
        let upstream = upstream();
        let Ok(upstream) = std::str::from_utf8(&upstream) else {
            return Action::Continue;
        };
        let call = hostcalls::dispatch_grpc_call(
            upstream,
            "grpc.health.v1.Health",
            "Check",
            Vec::new(),
            Some(&[]),
            Duration::from_millis(200),
        );
        match call {
            Ok(_) => Action::Pause,
            Err(_) => Action::Continue,
        }
    }
}
