//! Placeholder: being written.

use serde_json::Value;

use super::{ProposedCall, Removal, RequestView, Text};

/// Request view.
pub fn request_view(_body: &Value) -> RequestView {
    RequestView::default()
}

/// Proposed calls.
pub fn proposed_calls(_body: &Value) -> Vec<ProposedCall> {
    Vec::new()
}

/// Response texts.
pub fn response_texts(_body: &Value) -> Vec<Text> {
    Vec::new()
}

/// Removes calls.
pub fn remove_calls(_body: &mut Value, _removals: &[Removal]) {}

/// Redacts.
pub fn redact(_body: &mut Value, _pointer: &str, _notice: &str) -> bool {
    false
}

/// Error body.
pub fn error_body(message: &str, code: &str) -> Vec<u8> {
    super::openai_chat::error_body(message, code)
}
