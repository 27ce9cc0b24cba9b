//! Every text of an MCP message from a server, in units that can be judged and neutralised.
//!
//! Nothing a server sends is skipped: every string value at any depth, every object key outside
//! the MCP and JSON Schema vocabulary (a property name is text the model reads), and the decoded
//! text of base64 payloads (`blob`, `data`) whose MIME type says text or whose bytes are UTF-8.
//! Binary payloads that are not UTF-8 (images, audio, PDFs) are not read: the filter has no OCR
//! or transcription (see docs/threat-model.md, "MCP coverage").
//!
//! Units (each is judged on its strings joined with `\n`, so an injection split over several
//! strings of one unit is still seen) and how a poisoned unit is neutralised:
//!
//! | unit | pointer | neutralised by |
//! |---|---|---|
//! | tool result `result.content` + `structuredContent` (also `tasks/result`) | `…/result/content` | one text block with the notice; `structuredContent` dropped and the result marked `isError` (the SDKs validate structured content against `outputSchema` unless the result is an error) |
//! | resource contents item `result.contents[k]` (text or blob) | `…/result/contents/k` | `{uri, mimeType: text/plain, text: notice}` |
//! | prompt message `result.messages[k].content` | `…/result/messages/k/content` | a text block with the notice |
//! | error `error` (`message`, `data`) | `…/error` | `message` = notice, `data` dropped (code kept) |
//! | list entry `result.{tools,prompts,resources,resourceTemplates}[k]` | `…/result/<list>/k` | each poisoned free-text string replaced in place; the entry dropped from the list when the poison is in its name, a key, an identifier, or only in the joined text |
//! | request or notification `params` (`sampling/createMessage`, `elicitation/create`, `notifications/message`, `notifications/progress`, …) | `…/params` | each poisoned free-text string replaced in place; else every free-text string; the message dropped when poison remains in a key or an identifier |
//! | any other `result` field (`instructions`, `serverInfo`, `completion.values`, `tasks`, …) | `…/result` | as `params` |

use serde_json::{json, Map, Value};

use super::{Provenance, Text};

/// How a unit is neutralised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// A tool result's content.
    Content,
    /// One item of `resources/read` contents.
    ResourceItem,
    /// One prompt message's content.
    PromptContent,
    /// A JSON-RPC error object.
    Error,
    /// One entry of a tools/prompts/resources/templates list.
    Entry,
    /// The params of a server request or notification, or the other fields of a result.
    Strings,
}

/// One string (or key, or decoded payload) of a unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    /// Where the value sits (for a key: the object holding it).
    pub pointer: String,
    /// The text.
    pub text: String,
    /// True for a free-text string value that can be replaced by the notice without changing
    /// what the message means to the protocol (not a key, an identifier, or a payload).
    pub replaceable: bool,
}

/// One judged unit of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// The joined text, with the unit's pointer and provenance.
    pub text: Text,
    /// How it is neutralised.
    pub kind: UnitKind,
    /// The pieces, in document order.
    pub pieces: Vec<Piece>,
    /// Position of the message in a batch (0 for a single message).
    pub message: usize,
}

/// Keys of the MCP and JSON Schema vocabulary: not text on their own (their values are read).
const VOCABULARY: &[&str] = &[
    "jsonrpc",
    "id",
    "method",
    "params",
    "result",
    "error",
    "code",
    "message",
    "data",
    "content",
    "structuredContent",
    "isError",
    "type",
    "text",
    "mimeType",
    "uri",
    "uriTemplate",
    "name",
    "title",
    "description",
    "resource",
    "blob",
    "annotations",
    "audience",
    "priority",
    "lastModified",
    "_meta",
    "contents",
    "messages",
    "role",
    "tools",
    "prompts",
    "resources",
    "resourceTemplates",
    "nextCursor",
    "cursor",
    "inputSchema",
    "outputSchema",
    "properties",
    "required",
    "items",
    "enum",
    "enumNames",
    "oneOf",
    "anyOf",
    "allOf",
    "not",
    "const",
    "default",
    "examples",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "additionalProperties",
    "$schema",
    "$ref",
    "$defs",
    "definitions",
    "icons",
    "src",
    "sizes",
    "theme",
    "size",
    "arguments",
    "readOnlyHint",
    "destructiveHint",
    "idempotentHint",
    "openWorldHint",
    "execution",
    "taskSupport",
    "systemPrompt",
    "includeContext",
    "temperature",
    "maxTokens",
    "stopSequences",
    "metadata",
    "modelPreferences",
    "hints",
    "costPriority",
    "speedPriority",
    "intelligencePriority",
    "toolChoice",
    "mode",
    "requestedSchema",
    "url",
    "elicitationId",
    "progressToken",
    "progress",
    "total",
    "level",
    "logger",
    "requestId",
    "reason",
    "task",
    "taskId",
    "status",
    "statusMessage",
    "createdAt",
    "lastUpdatedAt",
    "ttl",
    "pollInterval",
    "tasks",
    "instructions",
    "serverInfo",
    "capabilities",
    "protocolVersion",
    "version",
    "websiteUrl",
    "completion",
    "values",
    "hasMore",
    "tool_use_id",
    "toolUseId",
    "input",
    "model",
    "stopReason",
    "roots",
    "resultType",
    "inputRequests",
    "requestState",
];

/// Values that are identifiers (replacing them would change what the message does).
const IDENTIFIERS: &[&str] = &[
    "jsonrpc",
    "id",
    "method",
    "type",
    "mimeType",
    "uri",
    "uriTemplate",
    "name",
    "role",
    "$ref",
    "$schema",
    "format",
    "pattern",
    "required",
    "enum",
    "const",
    "progressToken",
    "level",
    "mode",
    "url",
    "protocolVersion",
    "cursor",
    "nextCursor",
    "requestId",
    "taskId",
    "status",
    "toolUseId",
    "tool_use_id",
    "model",
    "stopReason",
    "includeContext",
    "elicitationId",
    "src",
    "theme",
    "resultType",
    "requestState",
    "version",
    "audience",
];

/// Result fields that have units of their own.
const OWN_UNITS: &[&str] = &[
    "content",
    "structuredContent",
    "contents",
    "messages",
    "tools",
    "prompts",
    "resources",
    "resourceTemplates",
];

/// Escapes a key for a JSON pointer (RFC 6901).
pub(crate) fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// True for a MIME type whose bytes are text.
fn text_mime(mime: &str) -> bool {
    let m = mime.trim().to_ascii_lowercase();
    m.starts_with("text/")
        || m.ends_with("+json")
        || m.ends_with("+xml")
        || [
            "application/json",
            "application/xml",
            "application/javascript",
            "application/yaml",
            "application/x-yaml",
            "application/toml",
            "application/sql",
            "application/x-sh",
        ]
        .iter()
        .any(|t| m.starts_with(t))
}

/// The text a base64 payload carries, if any: decoded when its MIME type says text or its bytes
/// are UTF-8; the raw string when it is not base64 (a client may still show it).
fn payload_text(raw: &str, mime: Option<&str>) -> Option<String> {
    let compact: String = raw.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    match crate::sanitize::decode::base64(&compact) {
        None => Some(raw.to_owned()),
        Some(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(e) if mime.is_some_and(text_mime) => {
                Some(String::from_utf8_lossy(e.as_bytes()).into_owned())
            }
            Err(_) => None,
        },
    }
}

/// True when a short value of an identifier key is a plain token (left out of the joined text:
/// `text`, `image/png`, `2.0`); anything else is read.
fn plain_token(s: &str) -> bool {
    s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._+-:".contains(&b))
}

/// An identifier or key as words (`ignore_all_previous` reads as `ignore all previous`).
fn words(s: &str) -> String {
    s.replace(['_', '-'], " ")
}

/// Collects the pieces of `v` (at `pointer`, under object key `key`).
pub(crate) fn walk(v: &Value, pointer: &str, key: Option<&str>, out: &mut Vec<Piece>) {
    match v {
        Value::String(s) => {
            let identifier = key.is_some_and(|k| IDENTIFIERS.contains(&k));
            if identifier && plain_token(s) && key != Some("uri") && key != Some("name") {
                return;
            }
            if !s.is_empty() {
                out.push(Piece {
                    pointer: pointer.to_owned(),
                    text: if identifier { words(s) } else { s.clone() },
                    replaceable: !identifier,
                });
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                walk(item, &format!("{pointer}/{i}"), key, out);
            }
        }
        Value::Object(map) => walk_object(map, pointer, out),
        _ => {}
    }
}

fn walk_object(map: &Map<String, Value>, pointer: &str, out: &mut Vec<Piece>) {
    let mime = map.get("mimeType").and_then(Value::as_str);
    for (k, v) in map {
        if !VOCABULARY.contains(&k.as_str()) && !k.is_empty() {
            out.push(Piece {
                pointer: pointer.to_owned(),
                text: words(k),
                replaceable: false,
            });
        }
        let here = format!("{pointer}/{}", escape(k));
        let payload = k == "blob" || (k == "data" && mime.is_some());
        match (payload, v.as_str()) {
            (true, Some(raw)) => {
                if let Some(text) = payload_text(raw, mime).filter(|t| !t.is_empty()) {
                    out.push(Piece {
                        pointer: here,
                        text,
                        replaceable: false,
                    });
                }
            }
            _ => walk(v, &here, Some(k), out),
        }
    }
}

fn unit(
    provenance: Provenance,
    kind: UnitKind,
    pointer: String,
    pieces: Vec<Piece>,
    message: usize,
    tool: Option<String>,
) -> Option<Unit> {
    if pieces.is_empty() {
        return None;
    }
    let text = pieces
        .iter()
        .map(|p| p.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    Some(Unit {
        text: Text {
            provenance,
            text,
            pointer,
            tool,
        },
        kind,
        pieces,
        message,
    })
}

/// The units of one message at `prefix` (`""`, or `/N` in a batch).
fn message_units(m: &Value, prefix: &str, n: usize, out: &mut Vec<Unit>) {
    use Provenance::{ToolDefinition, ToolResult};
    if let Some(result) = m.get("result").and_then(Value::as_object) {
        let r = format!("{prefix}/result");
        if result.contains_key("content") || result.contains_key("structuredContent") {
            let mut pieces = Vec::new();
            if let Some(c) = result.get("content") {
                walk(c, &format!("{r}/content"), Some("content"), &mut pieces);
            }
            if let Some(s) = result.get("structuredContent").filter(|s| !s.is_null()) {
                pieces.push(Piece {
                    pointer: format!("{r}/structuredContent"),
                    text: s.to_string(),
                    replaceable: false,
                });
            }
            out.extend(unit(
                ToolResult,
                UnitKind::Content,
                format!("{r}/content"),
                pieces,
                n,
                None,
            ));
        }
        let lists = [
            ("contents", UnitKind::ResourceItem, ToolResult),
            ("messages", UnitKind::PromptContent, ToolResult),
            ("tools", UnitKind::Entry, ToolDefinition),
            ("prompts", UnitKind::Entry, ToolDefinition),
            ("resources", UnitKind::Entry, ToolDefinition),
            ("resourceTemplates", UnitKind::Entry, ToolDefinition),
        ];
        for (key, kind, provenance) in lists {
            let Some(items) = result.get(key).and_then(Value::as_array) else {
                continue;
            };
            for (k, item) in items.iter().enumerate() {
                let mut at = format!("{r}/{key}/{k}");
                let target = if kind == UnitKind::PromptContent {
                    at.push_str("/content");
                    item.get("content").unwrap_or(&Value::Null)
                } else {
                    item
                };
                let mut pieces = Vec::new();
                walk(target, &at, None, &mut pieces);
                let tool = (kind == UnitKind::Entry)
                    .then(|| item.get("name").and_then(Value::as_str).map(str::to_owned))
                    .flatten();
                out.extend(unit(provenance, kind, at, pieces, n, tool));
            }
        }
        let mut pieces = Vec::new();
        for (k, v) in result {
            if !OWN_UNITS.contains(&k.as_str()) {
                if !VOCABULARY.contains(&k.as_str()) {
                    pieces.push(Piece {
                        pointer: r.clone(),
                        text: words(k),
                        replaceable: false,
                    });
                }
                walk(v, &format!("{r}/{}", escape(k)), Some(k), &mut pieces);
            }
        }
        out.extend(unit(ToolResult, UnitKind::Strings, r, pieces, n, None));
    }
    if let Some(error) = m.get("error").filter(|e| e.is_object()) {
        let mut pieces = Vec::new();
        let at = format!("{prefix}/error");
        walk(error, &at, None, &mut pieces);
        out.extend(unit(ToolResult, UnitKind::Error, at, pieces, n, None));
    }
    if m.get("method").is_some() {
        if let Some(params) = m.get("params") {
            let mut pieces = Vec::new();
            let at = format!("{prefix}/params");
            walk(params, &at, None, &mut pieces);
            out.extend(unit(ToolResult, UnitKind::Strings, at, pieces, n, None));
        }
    }
}

/// Every unit of a server's body (one message or a batch).
pub fn units(body: &Value) -> Vec<Unit> {
    let mut out = Vec::new();
    match body {
        Value::Array(items) => {
            for (n, m) in items.iter().enumerate() {
                message_units(m, &format!("/{n}"), n, &mut out);
            }
        }
        other => message_units(other, "", 0, &mut out),
    }
    out
}

/// Replaces a whole unit by the notice, in the shape its kind requires. False when the pointer
/// does not resolve or the unit has no such shape.
pub(crate) fn replace_unit(body: &mut Value, pointer: &str, notice: &str) -> bool {
    let (parent, last) = match pointer.rsplit_once('/') {
        Some(split) => split,
        None => return false,
    };
    if last == "content" && (parent.ends_with("/result") || parent == "/result") {
        let Some(result) = body.pointer_mut(parent).and_then(Value::as_object_mut) else {
            return false;
        };
        result.insert(
            "content".to_owned(),
            json!([{"type": "text", "text": notice}]),
        );
        // The structured data is withheld too. A tool with an `outputSchema` must return
        // structured content unless the result is an error (the SDKs reject the result
        // otherwise), so a result that had it becomes an error result.
        if result.shift_remove("structuredContent").is_some() {
            result.insert("isError".to_owned(), Value::Bool(true));
        }
        return true;
    }
    if last == "content" && parent.contains("/result/messages/") {
        return set(body, pointer, json!({"type": "text", "text": notice}));
    }
    if parent.ends_with("/result/contents") && last.parse::<usize>().is_ok() {
        let uri = body
            .pointer(&format!("{pointer}/uri"))
            .cloned()
            .unwrap_or_else(|| Value::String(String::new()));
        return set(
            body,
            pointer,
            json!({"uri": uri, "mimeType": "text/plain", "text": notice}),
        );
    }
    if last == "error" {
        let Some(error) = body.pointer_mut(pointer).and_then(Value::as_object_mut) else {
            return false;
        };
        error.insert("message".to_owned(), Value::String(notice.to_owned()));
        error.shift_remove("data");
        return true;
    }
    let entry = ["tools", "prompts", "resources", "resourceTemplates"]
        .iter()
        .any(|l| parent.ends_with(&format!("/result/{l}")))
        && last.parse::<usize>().is_ok();
    if entry || last == "params" || last == "result" {
        let Some(v) = body.pointer(pointer) else {
            return false;
        };
        let mut pieces = Vec::new();
        match v.as_object().filter(|_| last == "result") {
            // The result's own units (content, lists) are not part of this one.
            Some(result) => {
                for (k, v) in result
                    .iter()
                    .filter(|(k, _)| !OWN_UNITS.contains(&k.as_str()))
                {
                    walk(v, &format!("{pointer}/{}", escape(k)), Some(k), &mut pieces);
                }
            }
            None => walk(v, pointer, None, &mut pieces),
        }
        for p in pieces.iter().filter(|p| p.replaceable) {
            set(body, &p.pointer, Value::String(notice.to_owned()));
        }
        return true;
    }
    false
}

fn set(body: &mut Value, pointer: &str, value: Value) -> bool {
    match body.pointer_mut(pointer) {
        Some(v) => {
            *v = value;
            true
        }
        None => false,
    }
}
