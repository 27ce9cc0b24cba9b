//! Wire formats: each provider format becomes one neutral view (request texts used for identity,
//! proposed tool calls), and the enforcement edits are applied back in the provider's own shape.
//!
//! The format of a route comes from config, never from guessing. Unknown fields are never rejected;
//! edits go through `serde_json::Value` with preserved key order, so everything not touched survives.

pub mod openai_chat;
pub mod sse;

use serde_json::Value;

/// A supported wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI Chat Completions (`/v1/chat/completions`), non-streaming.
    OpenAiChat,
}

impl Format {
    /// Config names of all formats.
    pub const NAMES: &'static [&'static str] = &["openai_chat"];

    /// Parses a config name.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "openai_chat" => Some(Format::OpenAiChat),
            _ => None,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Format::OpenAiChat => "openai_chat",
        }
    }
}

/// What the filter needs from a request body in this slice.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestView {
    /// Concatenated system (or developer) prompt text, if any.
    pub system: Option<String>,
    /// Text of the first user message, if any.
    pub first_user: Option<String>,
}

/// A tool call proposed by the model in a response.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedCall {
    /// Index of the choice holding the call.
    pub choice: usize,
    /// Index of the call within that choice's `tool_calls`.
    pub index: usize,
    /// Provider call id (may be empty when the provider omitted it).
    pub id: String,
    /// Tool (function) name.
    pub name: String,
    /// Parsed arguments, or the raw string when it is not valid JSON.
    pub arguments: Result<Value, String>,
    /// True when the raw arguments repeat a JSON key (serde_json keeps only the last).
    pub duplicate_keys: bool,
}

/// A call to remove from a response, with the refusal text shown in its place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// Choice index.
    pub choice: usize,
    /// Call index within the choice.
    pub index: usize,
    /// Refusal sentence for this call.
    pub refusal: String,
}

/// Errors parsing a body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not JSON (message from serde_json, without content).
    #[error("body is not valid JSON: {0}")]
    InvalidJson(String),
    /// JSON, but not an object.
    #[error("body must be a JSON object")]
    NotAnObject,
}

/// Parses JSON without echoing content in the error.
pub fn parse_json(body: &[u8]) -> Result<Value, WireError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| WireError::InvalidJson(format!("line {} column {}", e.line(), e.column())))?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(WireError::NotAnObject)
    }
}

impl Format {
    /// Extracts the request view.
    pub fn request_view(self, body: &Value) -> RequestView {
        match self {
            Format::OpenAiChat => openai_chat::request_view(body),
        }
    }

    /// Extracts proposed tool calls from a response.
    pub fn proposed_calls(self, body: &Value) -> Vec<ProposedCall> {
        match self {
            Format::OpenAiChat => openai_chat::proposed_calls(body),
        }
    }

    /// Removes calls and inserts refusals, in place.
    pub fn remove_calls(self, body: &mut Value, removals: &[Removal]) {
        match self {
            Format::OpenAiChat => openai_chat::remove_calls(body, removals),
        }
    }

    /// The provider-shaped error body for a locally generated error.
    pub fn error_body(self, message: &str, code: &str) -> Vec<u8> {
        match self {
            Format::OpenAiChat => openai_chat::error_body(message, code),
        }
    }
}
