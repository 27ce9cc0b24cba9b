//! MCP answers: every unit of a server's message judged ([`crate::wire::mcp::scan`]) and
//! neutralised in place, as one JSON body or event by event on an SSE stream.
//!
//! Streams are judged as they arrive: each complete event is judged and forwarded at once
//! (unchanged, rewritten, or dropped), and only an incomplete event is held, so a server that
//! waits for the client inside the stream (`sampling/createMessage`, `elicitation/create`), a
//! progress notification and the long-lived GET notification stream all flow. Fail closed: an
//! event whose data looks like JSON but does not parse (`NaN`, nesting past serde's depth) is
//! replaced by a JSON-RPC error event and ends the stream, and so does an event past
//! `max_body_bytes`.

use serde_json::Value;

use super::texts::{redaction_notice, scan_texts};
use crate::config::detect::ToolResultMode;
use crate::config::Config;
use crate::detect::notice;
use crate::enforce::{self, Outcome};
use crate::verdict::Action;
use crate::wire::mcp::scan::{self, Unit, UnitKind};
use crate::wire::sse::{Event, Framer};
use crate::wire::{self, Provenance, Text};

/// Error code of the event that replaces an MCP event the firewall cannot parse.
pub const CODE_UNREADABLE_EVENT: &str = "llmfw_uninspectable_response";

/// What judging one message (or batch) found.
#[derive(Debug, Default)]
pub(super) struct Judged {
    pub(super) action: Action,
    pub(super) reasons: Vec<String>,
    /// The value was edited.
    pub(super) changed: bool,
    /// Messages (batch positions; 0 for a single one) to remove whole: poison in a key or an
    /// identifier that cannot be replaced in place.
    pub(super) dropped: Vec<usize>,
    /// Units judged (for the coverage record).
    pub(super) units: usize,
}

/// True when one piece of text on its own reaches the redaction threshold.
fn poisoned(config: &Config, provenance: Provenance, text: &str) -> bool {
    let t = Text {
        provenance,
        text: text.to_owned(),
        pointer: "/x".to_owned(),
        tool: None,
    };
    !scan_texts(config, &[t], Some(Action::RequireApproval))
        .redact
        .is_empty()
}

/// Neutralises one poisoned list entry or `params`/`result` unit: the poisoned free-text
/// strings in place. Returns (entry to drop, message to drop).
fn neutralise_strings(config: &Config, v: &mut Value, unit: &Unit, notice: &str) -> (bool, bool) {
    let flagged: Vec<&scan::Piece> = unit
        .pieces
        .iter()
        .filter(|p| poisoned(config, unit.text.provenance, &p.text))
        .collect();
    let in_place = !flagged.is_empty() && flagged.iter().all(|p| p.replaceable);
    if in_place {
        for p in flagged {
            if let Some(slot) = v.pointer_mut(&p.pointer) {
                *slot = Value::String(notice.to_owned());
            }
        }
        return (false, false);
    }
    if unit.kind == UnitKind::Entry {
        return (true, false);
    }
    // Split over several strings, or in a key or identifier: every free-text string goes, and
    // the message too when the poison sits where it cannot be replaced.
    wire::mcp::redact(v, &unit.text.pointer, notice);
    (false, flagged.iter().any(|p| !p.replaceable))
}

/// Judges every unit of `v` and neutralises the poisoned ones in place.
pub(super) fn judge_value(config: &Config, v: &mut Value) -> Judged {
    let units = scan::units(v);
    let texts: Vec<Text> = units.iter().map(|u| u.text.clone()).collect();
    let scan = scan_texts(config, &texts, Some(Action::RequireApproval));
    let block = config.detect.config().tool_result_injection == ToolResultMode::Block;
    let mut out = Judged {
        action: scan.action,
        reasons: scan.reasons,
        units: units.len(),
        ..Judged::default()
    };
    let mut entries: Vec<String> = Vec::new();
    for (pointer, rules) in &scan.redact {
        let Some(unit) = units.iter().find(|u| &u.text.pointer == pointer) else {
            continue;
        };
        let notice = redaction_notice(rules);
        let what = match unit.kind {
            UnitKind::Entry => "definition",
            UnitKind::Strings => "message",
            _ => "tool result",
        };
        match unit.kind {
            UnitKind::Entry | UnitKind::Strings => {
                let (entry, message) = neutralise_strings(config, v, unit, &notice);
                if entry {
                    entries.push(pointer.clone());
                }
                if message {
                    out.dropped.push(unit.message);
                }
            }
            _ => {
                wire::mcp::redact(v, pointer, &notice);
                if block && unit.kind == UnitKind::Content {
                    if let Some(Value::Object(result)) = pointer
                        .strip_suffix("/content")
                        .and_then(|p| v.pointer_mut(p))
                    {
                        result.insert("isError".to_owned(), Value::Bool(true));
                    }
                }
            }
        }
        out.changed = true;
        let line = format!("{what} redacted: {}", rules.join(", "));
        if !out.reasons.contains(&line) {
            out.reasons.push(line);
        }
    }
    drop_entries(v, &mut entries);
    out
}

/// Removes list entries (pointers `…/<list>/<k>`), highest index first so the others stay put.
fn drop_entries(v: &mut Value, entries: &mut [String]) {
    let index = |p: &str| {
        p.rsplit_once('/')
            .and_then(|(_, k)| k.parse::<usize>().ok())
            .unwrap_or(0)
    };
    entries.sort_by_key(|p| std::cmp::Reverse(index(p)));
    for p in entries.iter() {
        if let Some((list, k)) = p.rsplit_once('/') {
            if let (Some(Value::Array(items)), Ok(k)) = (v.pointer_mut(list), k.parse::<usize>()) {
                if k < items.len() {
                    items.remove(k);
                }
            }
        }
    }
}

/// The body after dropping whole messages: batch members removed; a single message (or a
/// batch left empty) becomes a JSON-RPC error (with the message's id when it was a response).
fn without_messages(v: Value, dropped: &[usize]) -> Option<Value> {
    if dropped.is_empty() {
        return Some(v);
    }
    let withheld = |m: &Value| {
        let id = m
            .get("id")
            .filter(|_| m.get("method").is_none())
            .cloned()
            .unwrap_or(Value::Null);
        serde_json::json!({"jsonrpc": "2.0", "id": id, "error": {"code": -32603,
            "message": notice::WITHHELD_MESSAGE}})
    };
    match v {
        Value::Array(items) => {
            let kept: Vec<Value> = items
                .into_iter()
                .enumerate()
                .filter(|(n, _)| !dropped.contains(n))
                .map(|(_, m)| m)
                .collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        one => Some(withheld(&one)),
    }
}

/// A rewritten MCP answer is at least a warning; the reasons go into the outcome.
fn finish(mut out: Outcome, j: &Judged) -> Outcome {
    let action = if j.changed {
        j.action.max(Action::Warn)
    } else {
        j.action
    };
    enforce::carry(&mut out, action, &j.reasons);
    out
}

/// MCP JSON answer (already parsed): every poisoned unit neutralised; and the units judged.
pub(super) fn json_response(config: &Config, mut v: Value) -> (Outcome, usize) {
    let j = judge_value(config, &mut v);
    let mut out = Outcome::allow();
    if j.changed {
        let body = without_messages(v, &j.dropped).unwrap_or_else(|| {
            serde_json::json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32603,
                "message": notice::WITHHELD_ANSWER}})
        });
        out.body = Some(body.to_string().into_bytes());
    }
    (finish(out, &j), j.units)
}

/// One SSE event rebuilt around new data (`event:` and `id:` kept).
fn event_bytes(e: &Event, data: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(name) = &e.event {
        out.extend_from_slice(format!("event: {name}\n").as_bytes());
    }
    if let Some(id) = &e.id {
        out.extend_from_slice(format!("id: {id}\n").as_bytes());
    }
    out.extend_from_slice(format!("data: {data}\n\n").as_bytes());
    out
}

/// The JSON-RPC error event that replaces what cannot pass and ends the stream.
pub(super) fn error_event(message: &str, code: &str) -> Vec<u8> {
    let body = wire::mcp::error_body(message, code);
    let mut out = b"event: message\ndata: ".to_vec();
    out.extend_from_slice(&body);
    out.extend_from_slice(b"\n\n");
    out
}

/// The state of one MCP SSE stream.
#[derive(Debug)]
pub(super) struct McpStream {
    framer: Framer,
    /// Cap on one event (the framer only bounds an incomplete one; a chunk may bring a whole
    /// event past it).
    cap: usize,
    action: Action,
    reasons: Vec<String>,
    /// The stream was ended (an event past the cap, or unreadable): later bytes are dropped.
    dead: bool,
    /// Units judged so far (for the coverage record).
    pub(super) units: usize,
    /// Events redacted or withheld since [`Exchange::take_neutralised_events`] last asked (a
    /// long-lived stream's decision is only counted when it ends; these are counted as they pass).
    pub(super) neutralised: u32,
    /// The code of the error event that ended the stream.
    pub(super) ended: Option<&'static str>,
}

/// What one chunk of an MCP stream becomes.
#[derive(Debug)]
pub(super) struct StreamBytes {
    /// Bytes to send in place of the chunk.
    pub(super) bytes: Vec<u8>,
    /// True when the stream was ended with an error event (nothing more passes).
    pub(super) ended: bool,
}

impl McpStream {
    pub(super) fn new(cap: usize) -> McpStream {
        McpStream {
            framer: Framer::new(cap),
            cap,
            action: Action::Allow,
            reasons: Vec::new(),
            dead: false,
            units: 0,
            neutralised: 0,
            ended: None,
        }
    }

    /// The strictest action so far and its reasons.
    pub(super) fn outcome(&self) -> Outcome {
        let mut out = Outcome::allow();
        enforce::carry(&mut out, self.action, &self.reasons);
        out
    }

    /// Feeds one chunk (and, at the end, flushes an unterminated last event).
    pub(super) fn feed(&mut self, config: &Config, chunk: &[u8], end: bool) -> StreamBytes {
        if self.dead {
            return StreamBytes {
                bytes: Vec::new(),
                ended: true,
            };
        }
        let mut events = match self.framer.feed(chunk) {
            Ok(events) => events,
            Err(e) => return self.end(&format!("llmfw: {e}"), "llmfw_body_too_large"),
        };
        if end {
            events.extend(self.framer.finish());
        }
        let mut bytes = Vec::new();
        for e in events {
            if e.raw.len() > self.cap {
                let mut out = self.end(
                    &format!("llmfw: sse event exceeds {} bytes", self.cap),
                    "llmfw_body_too_large",
                );
                bytes.append(&mut out.bytes);
                out.bytes = bytes;
                return out;
            }
            match self.judge_event(config, &e) {
                Some(b) => bytes.extend(b),
                None => {
                    let mut out = self.end(
                        "llmfw: an event of the MCP stream is JSON the firewall cannot parse \
                         (invalid, or nested too deep)",
                        CODE_UNREADABLE_EVENT,
                    );
                    bytes.append(&mut out.bytes);
                    out.bytes = bytes;
                    return out;
                }
            }
        }
        StreamBytes {
            bytes,
            ended: false,
        }
    }

    fn end(&mut self, message: &str, code: &'static str) -> StreamBytes {
        self.dead = true;
        self.ended = Some(code);
        self.action = Action::Block;
        let line = format!("mcp stream ended: {code}");
        if !self.reasons.contains(&line) {
            self.reasons.push(line);
        }
        StreamBytes {
            bytes: error_event(message, code),
            ended: true,
        }
    }

    /// The bytes one complete event becomes; `None` when it cannot be read (fail closed).
    fn judge_event(&mut self, config: &Config, e: &Event) -> Option<Vec<u8>> {
        let data = e.data.trim_start();
        if data.is_empty() {
            // A priming event (`id:` only), a comment or a keep-alive.
            return Some(e.raw.clone());
        }
        let mut v = match serde_json::from_str::<Value>(&e.data) {
            Ok(v) if v.is_object() || v.is_array() => v,
            // Not JSON at all: no MCP client reads it as a message.
            _ if !(data.starts_with('{') || data.starts_with('[')) => return Some(e.raw.clone()),
            _ => return None,
        };
        let j = judge_value(config, &mut v);
        self.units += j.units;
        self.action = self.action.max(j.action);
        if j.changed {
            self.action = self.action.max(Action::Warn);
        }
        for r in &j.reasons {
            if !self.reasons.contains(r) {
                self.reasons.push(r.clone());
            }
        }
        if !j.changed {
            return Some(e.raw.clone());
        }
        self.neutralised = self.neutralised.saturating_add(1);
        let mut out =
            format!(": llmfw decision=warn reasons={}\n\n", reasons_line(&j)).into_bytes();
        match without_messages(v, &j.dropped) {
            Some(v) if j.dropped.is_empty() || v.is_array() => {
                out.extend(event_bytes(e, &v.to_string()));
            }
            // A server request or notification withheld whole: dropped from the stream.
            _ if is_server_message(&e.data) => {}
            Some(v) => out.extend(event_bytes(e, &v.to_string())),
            None => {}
        }
        Some(out)
    }
}

fn reasons_line(j: &Judged) -> String {
    enforce::header_safe(&j.reasons.join("; "), 512)
}

/// True when the data is a request or notification (has `method`), not a response.
fn is_server_message(data: &str) -> bool {
    serde_json::from_str::<Value>(data)
        .ok()
        .is_some_and(|v| v.get("method").is_some())
}

#[cfg(test)]
#[path = "mcp_tests.rs"]
mod tests;
