//! Every item, block, part and event type of the LLM formats, and how the filter handles it at
//! each position: judged as a tool call, read as text with a provenance, every string judged as
//! untrusted data, recorded as the provider's own work, or known to hold nothing a model reads.
//! A type not in these tables is *unknown*; what happens to it is `unknown_types` (default
//! refuse: the request or response is refused, never passed unjudged).
//!
//! The tables follow the official SDKs' type definitions (openai 3.57.0, anthropic 2.15.0);
//! `filter/core/tests/provider_types.rs` checks every type those SDKs list against them.

/// Where a type appears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Position {
    /// Chat request: `messages[].role`.
    ChatRequestRole,
    /// Chat request: `messages[].content[].type`.
    ChatRequestContentPart,
    /// Chat request: assistant `messages[].tool_calls[].type`.
    ChatRequestToolCall,
    /// Chat response: the fields of `choices[].message`.
    ChatResponseMessageField,
    /// Chat response: `choices[].message.tool_calls[].type`.
    ChatResponseToolCall,
    /// Chat stream: the fields of `choices[].delta`.
    ChatStreamDeltaField,
    /// Chat stream: `choices[].delta.tool_calls[].type`.
    ChatStreamToolCall,
    /// Responses request: `input[].type`.
    ResponsesRequestInputItem,
    /// Responses request: `input[].content[].type` of a message.
    ResponsesRequestContentPart,
    /// Responses request: `input[].output[].type` of a `function_call_output`.
    ResponsesRequestToolOutputPart,
    /// Responses response: `output[].type`.
    ResponsesResponseOutputItem,
    /// Responses response: `output[].content[].type` of a message.
    ResponsesResponseContentPart,
    /// Responses stream: the event `type`.
    ResponsesStreamEvent,
    /// Anthropic request: `messages[].content[].type`.
    AnthropicRequestBlock,
    /// Anthropic request: `tool_result.content[].type`.
    AnthropicRequestToolResultBlock,
    /// Anthropic request: `system[].type`.
    AnthropicRequestSystemBlock,
    /// Anthropic response: `content[].type`.
    AnthropicResponseBlock,
    /// Anthropic stream: the event `type`.
    AnthropicStreamEvent,
    /// Anthropic stream: `content_block_delta.delta.type`.
    AnthropicStreamDelta,
    /// Anthropic stream: `content_block_start.content_block.type`.
    AnthropicStreamBlock,
}

impl Position {
    /// Every position, in order.
    pub const ALL: &'static [Position] = &[
        Position::ChatRequestRole,
        Position::ChatRequestContentPart,
        Position::ChatRequestToolCall,
        Position::ChatResponseMessageField,
        Position::ChatResponseToolCall,
        Position::ChatStreamDeltaField,
        Position::ChatStreamToolCall,
        Position::ResponsesRequestInputItem,
        Position::ResponsesRequestContentPart,
        Position::ResponsesRequestToolOutputPart,
        Position::ResponsesResponseOutputItem,
        Position::ResponsesResponseContentPart,
        Position::ResponsesStreamEvent,
        Position::AnthropicRequestBlock,
        Position::AnthropicRequestToolResultBlock,
        Position::AnthropicRequestSystemBlock,
        Position::AnthropicResponseBlock,
        Position::AnthropicStreamEvent,
        Position::AnthropicStreamDelta,
        Position::AnthropicStreamBlock,
    ];

    /// The position's name (also the key in `tests/data/provider_types.json`).
    pub fn name(self) -> &'static str {
        match self {
            Position::ChatRequestRole => "chat.request.role",
            Position::ChatRequestContentPart => "chat.request.content_part",
            Position::ChatRequestToolCall => "chat.request.tool_call",
            Position::ChatResponseMessageField => "chat.response.message_field",
            Position::ChatResponseToolCall => "chat.response.tool_call",
            Position::ChatStreamDeltaField => "chat.stream.delta_field",
            Position::ChatStreamToolCall => "chat.stream.tool_call",
            Position::ResponsesRequestInputItem => "responses.request.input_item",
            Position::ResponsesRequestContentPart => "responses.request.content_part",
            Position::ResponsesRequestToolOutputPart => "responses.request.tool_output_part",
            Position::ResponsesResponseOutputItem => "responses.response.output_item",
            Position::ResponsesResponseContentPart => "responses.response.content_part",
            Position::ResponsesStreamEvent => "responses.stream.event",
            Position::AnthropicRequestBlock => "anthropic.request.block",
            Position::AnthropicRequestToolResultBlock => "anthropic.request.tool_result_block",
            Position::AnthropicRequestSystemBlock => "anthropic.request.system_block",
            Position::AnthropicResponseBlock => "anthropic.response.block",
            Position::AnthropicStreamEvent => "anthropic.stream.event",
            Position::AnthropicStreamDelta => "anthropic.stream.delta",
            Position::AnthropicStreamBlock => "anthropic.stream.block",
        }
    }

    /// The position of a name.
    pub fn from_name(name: &str) -> Option<Position> {
        Position::ALL.iter().copied().find(|p| p.name() == name)
    }
}

/// How a known type is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Handling {
    /// A tool call the agent runs: judged as a call with its real name and input, removed and
    /// replaced by a refusal when blocked.
    Call,
    /// A call in the conversation history: judged when it was proposed; its name is recorded so
    /// its result is judged under that name.
    HistoryCall,
    /// Work the provider already did (a hosted tool's call and result in a response): nothing
    /// for the agent to run; whatever it returns is judged when the agent sends it back.
    Provider,
    /// Text with the provenance of its message (user, system, assistant).
    Text,
    /// Every string of it judged as untrusted data (a tool result).
    Data,
    /// Every string of it judged as tool definitions offered to the model.
    Definitions,
    /// The model's own text or reasoning in a response (not a call; judged by the response-text
    /// checks).
    ModelText,
    /// Holds nothing a model reads as text: binary media, encrypted or signed blobs, references
    /// to stored items, protocol fields.
    Opaque,
    /// A stream event that frames the answer (start, stop, usage, ping, errors); the items and
    /// calls it carries are judged by their own types.
    Frame,
}

impl Handling {
    /// A short name for coverage records and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Handling::Call => "call",
            Handling::HistoryCall => "history_call",
            Handling::Provider => "provider",
            Handling::Text => "text",
            Handling::Data => "data",
            Handling::Definitions => "definitions",
            Handling::ModelText => "model_text",
            Handling::Opaque => "opaque",
            Handling::Frame => "frame",
        }
    }
}

use Handling::{
    Call, Data, Definitions, Frame, HistoryCall, ModelText, Opaque, Provider, Text as Txt,
};

const CHAT_ROLES: &[(&str, Handling)] = &[
    ("system", Txt),
    ("developer", Txt),
    ("user", Txt),
    ("assistant", Txt),
    ("tool", Data),
    ("function", Data),
];

const CHAT_CONTENT_PARTS: &[(&str, Handling)] = &[
    ("text", Txt),
    ("refusal", Txt),
    ("image_url", Opaque),
    ("input_audio", Opaque),
    ("file", Opaque),
];

const CHAT_TOOL_CALLS_REQUEST: &[(&str, Handling)] =
    &[("function", HistoryCall), ("custom", HistoryCall)];

const CHAT_TOOL_CALLS: &[(&str, Handling)] = &[("function", Call), ("custom", Call)];

const CHAT_MESSAGE_FIELDS: &[(&str, Handling)] = &[
    ("role", Opaque),
    ("content", ModelText),
    ("refusal", ModelText),
    ("annotations", ModelText),
    ("audio", ModelText),
    ("tool_calls", Call),
    ("function_call", Call),
];

const CHAT_DELTA_FIELDS: &[(&str, Handling)] = &[
    ("role", Opaque),
    ("content", ModelText),
    ("refusal", ModelText),
    ("audio", ModelText),
    ("tool_calls", Call),
    ("function_call", Call),
];

const RESPONSES_INPUT_ITEMS: &[(&str, Handling)] = &[
    ("message", Txt),
    ("function_call", HistoryCall),
    ("custom_tool_call", HistoryCall),
    ("local_shell_call", HistoryCall),
    ("shell_call", HistoryCall),
    ("apply_patch_call", HistoryCall),
    ("computer_call", HistoryCall),
    ("mcp_approval_request", HistoryCall),
    ("tool_search_call", HistoryCall),
    ("program", HistoryCall),
    ("function_call_output", Data),
    ("custom_tool_call_output", Data),
    ("local_shell_call_output", Data),
    ("shell_call_output", Data),
    ("apply_patch_call_output", Data),
    ("computer_call_output", Data),
    ("program_output", Data),
    ("mcp_call", Data),
    ("web_search_call", Data),
    ("file_search_call", Data),
    ("code_interpreter_call", Data),
    ("image_generation_call", Data),
    ("mcp_approval_response", Data),
    ("mcp_list_tools", Definitions),
    ("additional_tools", Definitions),
    ("tool_search_output", Definitions),
    ("reasoning", Txt),
    ("compaction", Opaque),
    ("compaction_trigger", Opaque),
    ("configuration_update", Data),
    ("item_reference", Opaque),
];

const RESPONSES_CONTENT_PARTS: &[(&str, Handling)] = &[
    ("input_text", Txt),
    ("output_text", Txt),
    ("refusal", Txt),
    ("text", Txt),
    ("input_image", Opaque),
    ("input_file", Data),
    ("input_audio", Opaque),
];

const RESPONSES_TOOL_OUTPUT_PARTS: &[(&str, Handling)] = &[
    ("input_text", Data),
    ("output_text", Data),
    ("text", Data),
    ("input_image", Opaque),
    ("input_file", Data),
];

const RESPONSES_OUTPUT_ITEMS: &[(&str, Handling)] = &[
    ("message", ModelText),
    ("reasoning", ModelText),
    ("function_call", Call),
    ("custom_tool_call", Call),
    ("local_shell_call", Call),
    ("shell_call", Call),
    ("apply_patch_call", Call),
    ("computer_call", Call),
    ("mcp_approval_request", Call),
    ("tool_search_call", Call),
    ("program", Call),
    ("web_search_call", Provider),
    ("file_search_call", Provider),
    ("code_interpreter_call", Provider),
    ("image_generation_call", Provider),
    ("mcp_call", Provider),
    ("mcp_list_tools", Provider),
    ("compaction", Opaque),
    // Outputs and tool lists echoed in an answer: the agent runs nothing from them; they are
    // judged as data when it sends them back.
    ("function_call_output", Provider),
    ("custom_tool_call_output", Provider),
    ("local_shell_call_output", Provider),
    ("shell_call_output", Provider),
    ("apply_patch_call_output", Provider),
    ("computer_call_output", Provider),
    ("program_output", Provider),
    ("tool_search_output", Provider),
    ("additional_tools", Provider),
    ("mcp_approval_response", Provider),
];

const RESPONSES_OUTPUT_PARTS: &[(&str, Handling)] =
    &[("output_text", ModelText), ("refusal", ModelText)];

/// Responses stream events. `response.<hosted tool>.*` progress events carry no call of the
/// agent's; the items they belong to are judged by their item type.
const RESPONSES_EVENTS: &[(&str, Handling)] = &[
    ("response.created", Frame),
    ("response.queued", Frame),
    ("response.in_progress", Frame),
    ("response.completed", Frame),
    ("response.incomplete", Frame),
    ("response.failed", Frame),
    ("error", Frame),
    ("response.output_item.added", Frame),
    ("response.output_item.done", Frame),
    ("response.content_part.added", ModelText),
    ("response.content_part.done", ModelText),
    ("response.output_text.delta", ModelText),
    ("response.output_text.done", ModelText),
    ("response.output_text.annotation.added", ModelText),
    ("response.refusal.delta", ModelText),
    ("response.refusal.done", ModelText),
    ("response.reasoning_summary_part.added", ModelText),
    ("response.reasoning_summary_part.done", ModelText),
    ("response.reasoning_summary_text.delta", ModelText),
    ("response.reasoning_summary_text.done", ModelText),
    ("response.reasoning_text.delta", ModelText),
    ("response.reasoning_text.done", ModelText),
    ("response.audio.delta", Opaque),
    ("response.audio.done", Opaque),
    ("response.audio.transcript.delta", ModelText),
    ("response.audio.transcript.done", ModelText),
    ("response.function_call_arguments.delta", Call),
    ("response.function_call_arguments.done", Call),
    ("response.custom_tool_call_input.delta", Call),
    ("response.custom_tool_call_input.done", Call),
    ("response.shell_call_command.added", Call),
    ("response.shell_call_command.delta", Call),
    ("response.shell_call_command.done", Call),
    ("response.shell_call_output_content.delta", Provider),
    ("response.shell_call_output_content.done", Provider),
    ("response.mcp_call_arguments.delta", Provider),
    ("response.mcp_call_arguments.done", Provider),
    ("response.mcp_call.in_progress", Provider),
    ("response.mcp_call.completed", Provider),
    ("response.mcp_call.failed", Provider),
    ("response.mcp_list_tools.in_progress", Provider),
    ("response.mcp_list_tools.completed", Provider),
    ("response.mcp_list_tools.failed", Provider),
    ("response.code_interpreter_call.in_progress", Provider),
    ("response.code_interpreter_call.interpreting", Provider),
    ("response.code_interpreter_call.completed", Provider),
    ("response.code_interpreter_call_code.delta", Provider),
    ("response.code_interpreter_call_code.done", Provider),
    ("response.file_search_call.in_progress", Provider),
    ("response.file_search_call.searching", Provider),
    ("response.file_search_call.completed", Provider),
    ("response.web_search_call.in_progress", Provider),
    ("response.web_search_call.searching", Provider),
    ("response.web_search_call.completed", Provider),
    ("response.image_generation_call.in_progress", Provider),
    ("response.image_generation_call.generating", Provider),
    ("response.image_generation_call.partial_image", Provider),
    ("response.image_generation_call.completed", Provider),
    ("response.compaction.compacting", Provider),
];

const ANTHROPIC_REQUEST_BLOCKS: &[(&str, Handling)] = &[
    ("text", Txt),
    ("thinking", Txt),
    ("redacted_thinking", Opaque),
    ("image", Opaque),
    ("container_upload", Opaque),
    ("document", Data),
    ("search_result", Data),
    ("tool_use", HistoryCall),
    ("server_tool_use", HistoryCall),
    ("mcp_tool_use", HistoryCall),
    ("tool_result", Data),
    ("mcp_tool_result", Data),
    ("web_search_tool_result", Data),
    ("web_fetch_tool_result", Data),
    ("code_execution_tool_result", Data),
    ("bash_code_execution_tool_result", Data),
    ("text_editor_code_execution_tool_result", Data),
    ("tool_search_tool_result", Data),
];

const ANTHROPIC_TOOL_RESULT_BLOCKS: &[(&str, Handling)] = &[
    ("text", Data),
    ("document", Data),
    ("search_result", Data),
    ("browser_state", Data),
    ("tool_reference", Data),
    ("image", Opaque),
];

const ANTHROPIC_SYSTEM_BLOCKS: &[(&str, Handling)] = &[("text", Txt)];

const ANTHROPIC_RESPONSE_BLOCKS: &[(&str, Handling)] = &[
    ("text", ModelText),
    ("thinking", ModelText),
    ("redacted_thinking", Opaque),
    ("tool_use", Call),
    ("server_tool_use", Provider),
    ("mcp_tool_use", Provider),
    ("mcp_tool_result", Provider),
    ("web_search_tool_result", Provider),
    ("web_fetch_tool_result", Provider),
    ("code_execution_tool_result", Provider),
    ("bash_code_execution_tool_result", Provider),
    ("text_editor_code_execution_tool_result", Provider),
    ("tool_search_tool_result", Provider),
    ("container_upload", Opaque),
];

const ANTHROPIC_EVENTS: &[(&str, Handling)] = &[
    ("message_start", Frame),
    ("message_delta", Frame),
    ("message_stop", Frame),
    ("content_block_start", Frame),
    ("content_block_delta", Frame),
    ("content_block_stop", Frame),
    ("ping", Frame),
    ("error", Frame),
];

const ANTHROPIC_DELTAS: &[(&str, Handling)] = &[
    ("text_delta", ModelText),
    ("thinking_delta", ModelText),
    ("citations_delta", ModelText),
    ("signature_delta", Opaque),
    ("input_json_delta", Call),
];

fn table(position: Position) -> &'static [(&'static str, Handling)] {
    match position {
        Position::ChatRequestRole => CHAT_ROLES,
        Position::ChatRequestContentPart => CHAT_CONTENT_PARTS,
        Position::ChatRequestToolCall => CHAT_TOOL_CALLS_REQUEST,
        Position::ChatResponseMessageField => CHAT_MESSAGE_FIELDS,
        Position::ChatResponseToolCall | Position::ChatStreamToolCall => CHAT_TOOL_CALLS,
        Position::ChatStreamDeltaField => CHAT_DELTA_FIELDS,
        Position::ResponsesRequestInputItem => RESPONSES_INPUT_ITEMS,
        Position::ResponsesRequestContentPart => RESPONSES_CONTENT_PARTS,
        Position::ResponsesRequestToolOutputPart => RESPONSES_TOOL_OUTPUT_PARTS,
        Position::ResponsesResponseOutputItem => RESPONSES_OUTPUT_ITEMS,
        Position::ResponsesResponseContentPart => RESPONSES_OUTPUT_PARTS,
        Position::ResponsesStreamEvent => RESPONSES_EVENTS,
        Position::AnthropicRequestBlock => ANTHROPIC_REQUEST_BLOCKS,
        Position::AnthropicRequestToolResultBlock => ANTHROPIC_TOOL_RESULT_BLOCKS,
        Position::AnthropicRequestSystemBlock => ANTHROPIC_SYSTEM_BLOCKS,
        Position::AnthropicResponseBlock | Position::AnthropicStreamBlock => {
            ANTHROPIC_RESPONSE_BLOCKS
        }
        Position::AnthropicStreamEvent => ANTHROPIC_EVENTS,
        Position::AnthropicStreamDelta => ANTHROPIC_DELTAS,
    }
}

/// How `ty` is handled at `position`; `None` when the type is unknown there.
pub fn handling(position: Position, ty: &str) -> Option<Handling> {
    table(position)
        .iter()
        .find(|(t, _)| *t == ty)
        .map(|(_, h)| *h)
}

/// Every known type at a position, with its handling (for docs and tests).
pub fn known(position: Position) -> &'static [(&'static str, Handling)] {
    table(position)
}

/// What happens to a type the filter does not know (`unknown_types`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownTypes {
    /// Refuse: a request with one gets a provider-shaped 400, a response a 502, a stream ends
    /// with an error event (default).
    #[default]
    Refuse,
    /// Judge it: in a request every string of it is judged as untrusted data (a tool result,
    /// not redactable in place); in a response the item or block is judged as a tool call named
    /// after its type whose arguments are its fields. A stream event of an unknown type that
    /// is no item is refused.
    InspectText,
    /// Let it pass (counted and recorded as uninspected).
    Pass,
}

impl UnknownTypes {
    /// Config names.
    pub const NAMES: &'static [&'static str] = &["refuse", "inspect_text", "pass"];

    /// Parses a config name.
    pub fn from_name(name: &str) -> Option<UnknownTypes> {
        match name {
            "refuse" => Some(UnknownTypes::Refuse),
            "inspect_text" => Some(UnknownTypes::InspectText),
            "pass" => Some(UnknownTypes::Pass),
            _ => None,
        }
    }

    /// The config name.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownTypes::Refuse => "refuse",
            UnknownTypes::InspectText => "inspect_text",
            UnknownTypes::Pass => "pass",
        }
    }
}

/// One value of a type the filter does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unknown {
    /// Where it sits.
    pub position: Position,
    /// Its type, made safe for logs ([`safe_type_name`]).
    pub type_name: String,
    /// JSON pointer of the item or block.
    pub pointer: String,
    /// Position of the call it becomes under `inspect_text` (responses): choice and index.
    pub at: (usize, usize),
}

/// A type name for logs and reasons: at most 48 bytes of `[A-Za-z0-9_./-]`, other characters as
/// `?`; `(none)` when absent or empty.
pub fn safe_type_name(ty: &str) -> String {
    let out: String = ty
        .chars()
        .take(48)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_./-".contains(c) {
                c
            } else {
                '?'
            }
        })
        .collect();
    if out.is_empty() {
        "(none)".to_owned()
    } else {
        out
    }
}

/// Records the parts of a content array (`content` at `pointer`) whose type is unknown at
/// `position`. Plain strings and typeless objects with a `text` string count as text.
pub(crate) fn note_parts(
    content: Option<&serde_json::Value>,
    position: Position,
    pointer: &str,
    choice: usize,
    unknown: &mut Vec<Unknown>,
) {
    let Some(parts) = content.and_then(serde_json::Value::as_array) else {
        return;
    };
    for (k, part) in parts.iter().enumerate() {
        if part.is_string() {
            continue;
        }
        let ty = part.get("type").and_then(serde_json::Value::as_str);
        let texty = ty.is_none() && part.get("text").is_some_and(serde_json::Value::is_string);
        if texty || ty.is_some_and(|t| handling(position, t).is_some()) {
            continue;
        }
        unknown.push(Unknown {
            position,
            type_name: safe_type_name(ty.unwrap_or("")),
            pointer: format!("{pointer}/{k}"),
            at: (choice, k),
        });
    }
}

/// An [`Unknown`] for the value `v` at `pointer` (its `type` field, or `ty` when given).
pub(crate) fn unknown_at(
    position: Position,
    ty: &str,
    pointer: String,
    at: (usize, usize),
) -> Unknown {
    Unknown {
        position,
        type_name: safe_type_name(ty),
        pointer,
        at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_tables_have_no_repeats() {
        for p in Position::ALL {
            assert_eq!(Position::from_name(p.name()), Some(*p));
            let t = known(*p);
            for (i, (ty, _)) in t.iter().enumerate() {
                assert!(
                    !t.iter().skip(i + 1).any(|(o, _)| o == ty),
                    "{} repeats {ty}",
                    p.name()
                );
            }
        }
        assert_eq!(
            handling(Position::ResponsesResponseOutputItem, "shell_call"),
            Some(Call)
        );
        assert_eq!(
            handling(Position::ResponsesResponseOutputItem, "future_call"),
            None
        );
    }

    #[test]
    fn type_names_are_safe_for_logs() {
        assert_eq!(safe_type_name("custom_tool_call"), "custom_tool_call");
        assert_eq!(safe_type_name(""), "(none)");
        assert_eq!(safe_type_name("a b\n\"x"), "a?b??x");
        assert_eq!(safe_type_name(&"x".repeat(100)).len(), 48);
    }
}
