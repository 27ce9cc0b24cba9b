//! Wire formats: each provider format becomes one neutral view (request texts used for identity,
//! proposed tool calls), and the enforcement edits are applied back in the provider's own shape.
//!
//! The format of a route comes from config, never from guessing. Unknown fields are never rejected;
//! edits go through `serde_json::Value` with preserved key order, so everything not touched survives.

pub mod anthropic;
pub(crate) mod calls;
pub mod kinds;
pub mod mcp;
pub mod openai_chat;
pub mod openai_responses;
pub mod sse;
pub mod stream;

use serde_json::Value;

/// A supported wire format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// OpenAI Chat Completions (`/v1/chat/completions`), JSON and SSE.
    OpenAiChat,
    /// OpenAI Responses (`/v1/responses`), JSON and SSE.
    OpenAiResponses,
    /// Anthropic Messages (`/v1/messages`), JSON and SSE.
    Anthropic,
    /// MCP JSON-RPC 2.0 over Streamable HTTP: the request carries the call (`tools/call`), the
    /// response the tool result or the tool list.
    Mcp,
}

impl Format {
    /// Config names of all formats.
    pub const NAMES: &'static [&'static str] =
        &["openai_chat", "openai_responses", "anthropic", "mcp"];

    /// Parses a config name.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "openai_chat" => Some(Format::OpenAiChat),
            "openai_responses" => Some(Format::OpenAiResponses),
            "anthropic" => Some(Format::Anthropic),
            "mcp" => Some(Format::Mcp),
            _ => None,
        }
    }

    /// The config name.
    pub fn name(self) -> &'static str {
        match self {
            Format::OpenAiChat => "openai_chat",
            Format::OpenAiResponses => "openai_responses",
            Format::Anthropic => "anthropic",
            Format::Mcp => "mcp",
        }
    }
}

/// Where a text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provenance {
    /// System or developer prompt (`system`, `developer`, `instructions`).
    System,
    /// A user message.
    User,
    /// An assistant message in the history.
    Assistant,
    /// A tool's result (the indirect channel).
    ToolResult,
    /// A tool definition: name, description and schema text offered to the model.
    ToolDefinition,
}

/// One text of a body, with where it came from and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// Provenance.
    pub provenance: Provenance,
    /// The text (parts of one message joined with `\n`).
    pub text: String,
    /// JSON pointer (RFC 6901) of the value that [`Format::redact`] replaces for this text: the
    /// whole content of a tool result (`/messages/3/content`), never a fragment. Empty for texts
    /// that cannot be redacted on their own.
    pub pointer: String,
    /// The tool's name, when known (tool results and definitions).
    pub tool: Option<String>,
}

/// What the filter reads from a request body.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestView {
    /// Concatenated system (or developer) prompt text, if any.
    pub system: Option<String>,
    /// Text of the first user message, if any.
    pub first_user: Option<String>,
    /// Every text of the request in order, with provenance.
    pub texts: Vec<Text>,
    /// Calls the request asks to execute (MCP `tools/call`; `choice` is the position in a batch,
    /// 0 for a single message). Empty for the LLM formats: history calls were judged when proposed.
    pub calls: Vec<ProposedCall>,
    /// Items, blocks, parts and roles of types the filter does not know (see `unknown_types`).
    pub unknown: Vec<kinds::Unknown>,
}

/// What the filter reads from a response body: the proposed calls and what it does not know.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseView {
    /// Proposed tool calls, in order.
    pub calls: Vec<ProposedCall>,
    /// Items or blocks of types the filter does not know, with the position a call made of them
    /// takes (`unknown_types: inspect_text`).
    pub unknown: Vec<kinds::Unknown>,
}

/// A tool call proposed by the model in a response (or, for MCP, requested by the client).
///
/// Positions per format: OpenAI Chat — `choice` = choice index, `index` = index in that choice's
/// `tool_calls`; OpenAI Responses — `choice` 0, `index` = index in `output`; Anthropic — `choice`
/// 0, `index` = index in `content` (the content block index in streams); MCP — `choice` = position
/// in the batch (0 for a single message), `index` 0, `id` = the JSON-RPC id as JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct ProposedCall {
    /// Index of the choice holding the call.
    pub choice: usize,
    /// Index of the call within that choice.
    pub index: usize,
    /// Provider call id (may be empty when the provider omitted it).
    pub id: String,
    /// Tool (function) name.
    pub name: String,
    /// Parsed arguments, or the raw string when it is not valid JSON.
    pub arguments: Result<Value, String>,
    /// True when the raw arguments repeat a JSON key (serde_json keeps only the last).
    pub duplicate_keys: bool,
    /// Why the call cannot be judged as read (a stream whose forms of the call disagree, a
    /// block index started twice): such a call is blocked with this reason.
    pub defect: Option<&'static str>,
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

/// Text of a `content`-like value: a string, or the `text` of every part joined with `\n`.
pub(crate) fn content_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => Some(s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter_map(|p| p.get("text").and_then(Value::as_str).or_else(|| p.as_str()))
                .collect();
            Some(texts.join("\n"))
        }
        _ => None,
    }
}

/// `tools[]` of an LLM request as definition texts (description and schema), for the three LLM
/// shapes: Chat `{"function": {name, description, parameters}}`, Responses `{name, description,
/// parameters}`, Anthropic `{name, description, input_schema}`. The pointer is the description,
/// which each format's `redact` replaces (or adds).
pub(crate) fn tool_definitions(body: &Value) -> Vec<Text> {
    let Some(tools) = body.get("tools").and_then(Value::as_array) else {
        return Vec::new();
    };
    tools
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let (f, pointer) = match t.get("function") {
                Some(f) => (f, format!("/tools/{i}/function/description")),
                None => (t, format!("/tools/{i}/description")),
            };
            let name = f.get("name").and_then(Value::as_str).map(str::to_owned);
            let mut text = f
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let schema = ["parameters", "input_schema"]
                .iter()
                .find_map(|k| f.get(*k).filter(|s| !s.is_null()));
            if let Some(s) = schema {
                text.push('\n');
                text.push_str(&s.to_string());
            }
            (!text.trim().is_empty()).then_some(Text {
                provenance: Provenance::ToolDefinition,
                text,
                pointer,
                tool: name,
            })
        })
        .collect()
}

/// Parses a call's arguments given as JSON text (empty = `{}`; not JSON = `Err(raw)`), and
/// whether the text repeats a key (serde_json would keep only the last).
pub(crate) fn parse_argument_text(raw: &str) -> (Result<Value, String>, bool) {
    let arguments = if raw.trim().is_empty() {
        Ok(Value::Object(serde_json::Map::new()))
    } else {
        serde_json::from_str::<Value>(raw).map_err(|_| raw.to_owned())
    };
    (arguments, crate::tools::dupkeys::has_duplicate_keys(raw))
}

/// Parses a call's raw `arguments` value: a JSON string (see [`parse_argument_text`]), or the
/// object itself as some compatible servers send it; missing or null = `{}`.
pub(crate) fn parse_arguments(raw: Option<&Value>) -> (Result<Value, String>, bool) {
    match raw {
        Some(Value::String(s)) => parse_argument_text(s),
        Some(v @ Value::Object(_)) => (Ok(v.clone()), false),
        None | Some(Value::Null) => (Ok(Value::Object(serde_json::Map::new())), false),
        Some(other) => (Err(other.to_string()), false),
    }
}

/// Adds a `description` to the object above a `…/description` pointer that did not resolve (a
/// tool definition without one). False when the pointer is not such a pointer or has no parent.
pub(crate) fn insert_description(body: &mut Value, pointer: &str, notice: &str) -> bool {
    let Some(parent) = pointer.strip_suffix("/description") else {
        return false;
    };
    match body.pointer_mut(parent).and_then(Value::as_object_mut) {
        Some(obj) => {
            obj.insert("description".to_owned(), Value::String(notice.to_owned()));
            true
        }
        None => false,
    }
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

/// Parses a body of this format: an object, or for MCP also a batch (array of objects).
pub fn parse_body(format: Format, body: &[u8]) -> Result<Value, WireError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| WireError::InvalidJson(format!("line {} column {}", e.line(), e.column())))?;
    match (&v, format) {
        (Value::Object(_), _) => Ok(v),
        (Value::Array(items), Format::Mcp) if !items.is_empty() => Ok(v),
        _ => Err(WireError::NotAnObject),
    }
}

impl Format {
    /// Extracts the request view.
    pub fn request_view(self, body: &Value) -> RequestView {
        match self {
            Format::OpenAiChat => openai_chat::request_view(body),
            Format::OpenAiResponses => openai_responses::request_view(body),
            Format::Anthropic => anthropic::request_view(body),
            Format::Mcp => mcp::request_view(body),
        }
    }

    /// Extracts proposed tool calls from a response (none for MCP: its calls are in requests).
    pub fn proposed_calls(self, body: &Value) -> Vec<ProposedCall> {
        self.response_view(body).calls
    }

    /// The proposed calls of a response and the items of types the filter does not know.
    pub fn response_view(self, body: &Value) -> ResponseView {
        match self {
            Format::OpenAiChat => openai_chat::response_view(body),
            Format::OpenAiResponses => openai_responses::response_view(body),
            Format::Anthropic => anthropic::response_view(body),
            Format::Mcp => ResponseView::default(),
        }
    }

    /// Texts of a response that the agent will feed back to a model: for MCP the tool results
    /// (`result.content`, provenance `ToolResult`) and tool lists (`result.tools`, provenance
    /// `ToolDefinition`); for the LLM formats the assistant's text.
    pub fn response_texts(self, body: &Value) -> Vec<Text> {
        match self {
            Format::OpenAiChat => openai_chat::response_texts(body),
            Format::OpenAiResponses => openai_responses::response_texts(body),
            Format::Anthropic => anthropic::response_texts(body),
            Format::Mcp => mcp::response_texts(body),
        }
    }

    /// Removes calls and inserts refusals, in place (LLM formats; no-op for MCP).
    pub fn remove_calls(self, body: &mut Value, removals: &[Removal]) {
        match self {
            Format::OpenAiChat => openai_chat::remove_calls(body, removals),
            Format::OpenAiResponses => openai_responses::remove_calls(body, removals),
            Format::Anthropic => anthropic::remove_calls(body, removals),
            Format::Mcp => {}
        }
    }

    /// Replaces the text at `pointer` (from [`Text::pointer`]) by `notice`, in the shape that
    /// position requires (a string, or a one-element text-block array). False when the pointer
    /// does not resolve.
    pub fn redact(self, body: &mut Value, pointer: &str, notice: &str) -> bool {
        match self {
            Format::OpenAiChat => openai_chat::redact(body, pointer, notice),
            Format::OpenAiResponses => openai_responses::redact(body, pointer, notice),
            Format::Anthropic => anthropic::redact(body, pointer, notice),
            Format::Mcp => mcp::redact(body, pointer, notice),
        }
    }

    /// The provider-shaped error body for a locally generated error (for MCP a JSON-RPC error
    /// with `id: null`; use [`mcp::refusal_reply`] to answer calls by id).
    pub fn error_body(self, message: &str, code: &str) -> Vec<u8> {
        match self {
            Format::OpenAiChat => openai_chat::error_body(message, code),
            Format::OpenAiResponses => openai_responses::error_body(message, code),
            Format::Anthropic => anthropic::error_body(message, code),
            Format::Mcp => mcp::error_body(message, code),
        }
    }
}
