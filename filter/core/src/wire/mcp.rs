//! Placeholder: being written.

use serde_json::Value;

use super::{RequestView, Text};

/// Request view: texts and `tools/call` calls.
pub fn request_view(_body: &Value) -> RequestView {
    RequestView::default()
}

/// Response texts.
pub fn response_texts(_body: &Value) -> Vec<Text> {
    Vec::new()
}

/// Redacts.
pub fn redact(_body: &mut Value, _pointer: &str, _notice: &str) -> bool {
    false
}

/// JSON-RPC error with `id: null`.
pub fn error_body(message: &str, code: &str) -> Vec<u8> {
    super::openai_chat::error_body(message, code)
}

/// The reply to a request whose calls were refused: for each `(batch position, refusal text)` a
/// JSON-RPC result `{"content":[{"type":"text","text":…}],"isError":true}` with that request's
/// id; calls of the batch not refused get a JSON-RPC error saying they were not executed.
pub fn refusal_reply(_request: &Value, _refusals: &[(usize, String)]) -> Vec<u8> {
    Vec::new()
}
