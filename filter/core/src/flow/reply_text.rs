//! The model's own answer text in responses, redacted in place ([`crate::detect::reply`]): the
//! client still gets a valid answer of its format, with an offending URL or secret replaced by a
//! marker; the outcome counts the replacements and names the rules (never the content).
//!
//! JSON answers: Chat `choices[].message.content` (a string, or `text` parts) and `.refusal`;
//! Responses `output[]` message items' `output_text.text` and `refusal.refusal` parts; Anthropic
//! `content[]` `text` blocks. Each text is redacted whole; `logprobs` next to a changed text are
//! emptied (they spell the original tokens). Streams: see [`stream`].

mod stream;

use serde_json::Value;

use super::{Exchange, StreamStep};
use crate::detect::reply::Redactions;
use crate::detect::Detector;
use crate::enforce::{self, Outcome};
use crate::verdict::Action;
use crate::wire::stream as wstream;
use crate::wire::Format;

pub(super) use stream::ReplyStream;

/// Reason of a stream ended because its answer text could not be held within the bounds.
const REASON_TOO_LARGE: &str = "answer text exceeds the stream limit";

/// What the answer text of one exchange lost.
#[derive(Debug, Default)]
pub(super) struct ReplyText {
    /// Replacements so far (JSON body, or the stream up to now).
    pub(super) redactions: Redactions,
    /// The stream processor, for a streamed answer.
    pub(super) stream: Option<ReplyStream>,
}

impl ReplyText {
    /// The reason line for the decision (`None` when nothing was replaced).
    pub(super) fn reason(&self) -> Option<String> {
        if self.redactions.is_empty() {
            return None;
        }
        let rules: Vec<&str> = self.redactions.rules.keys().map(String::as_str).collect();
        Some(format!("response text redacted: {}", rules.join(", ")))
    }
}

impl Exchange {
    /// Starts redacting a streamed answer of `format`.
    pub(super) fn reply_stream(&mut self, format: Format) {
        if self.config.detect.reply_enabled() {
            self.reply.stream = Some(ReplyStream::new(format, self.config.max_body_bytes));
        }
    }

    /// Stream bytes the filter is about to send → the bytes to send instead (at `end`, with
    /// nothing held back); `Err` with an error event when the answer text broke its bounds.
    pub(super) fn reply_bytes(&mut self, bytes: Vec<u8>, end: bool) -> Result<Vec<u8>, Vec<u8>> {
        let Some(rs) = self.reply.stream.as_mut() else {
            return Ok(bytes);
        };
        match rs.feed(&self.config.detect, &bytes, end) {
            Ok(out) => {
                self.reply.redactions = rs.redactions();
                Ok(out)
            }
            Err(stream::TooLarge) => {
                self.reply.stream = None;
                let msg = format!("llmfw: {REASON_TOO_LARGE}");
                Err(wstream::error_event(
                    self.format(),
                    &msg,
                    "llmfw_body_too_large",
                ))
            }
        }
    }

    /// The final step of a stream ended by [`Exchange::reply_bytes`]'s error event.
    pub(super) fn reply_failed(&mut self, error_event: Vec<u8>) -> StreamStep {
        self.stream_dead = true;
        StreamStep::Final(self.reply_refused(error_event))
    }

    /// The outcome of a stream ended by an error event (blocked, body = the event).
    pub(super) fn reply_refused(&self, error_event: Vec<u8>) -> Outcome {
        let mut out = self.with_carried(Outcome::allow());
        enforce::carry(&mut out, Action::Block, &[REASON_TOO_LARGE.to_owned()]);
        out.body = Some(error_event);
        out
    }
}

/// Redacts one string value in place; true when it changed.
fn redact_value(det: &Detector, v: Option<&mut Value>, acc: &mut Redactions) -> bool {
    let Some(Value::String(s)) = v else {
        return false;
    };
    let (out, r) = det.redact_reply(s);
    if r.is_empty() {
        return false;
    }
    acc.merge(&r);
    *s = out;
    true
}

fn items(v: Option<&mut Value>) -> impl Iterator<Item = &mut Value> {
    v.and_then(Value::as_array_mut).into_iter().flatten()
}

fn kind(v: &Value) -> &str {
    v.get("type").and_then(Value::as_str).unwrap_or("")
}

/// Redacts the answer texts of a JSON body of `format` in place (MCP: nothing).
pub(super) fn redact_json(det: &Detector, format: Format, body: &mut Value) -> Redactions {
    let mut acc = Redactions::default();
    if !det.reply_enabled() {
        return acc;
    }
    match format {
        Format::OpenAiChat => {
            for choice in items(body.get_mut("choices")) {
                let mut changed = false;
                if let Some(message) = choice.get_mut("message") {
                    match message.get_mut("content") {
                        Some(Value::Array(parts)) => {
                            for p in parts.iter_mut().filter(|p| kind(p) == "text") {
                                changed |= redact_value(det, p.get_mut("text"), &mut acc);
                            }
                        }
                        content => changed |= redact_value(det, content, &mut acc),
                    }
                    changed |= redact_value(det, message.get_mut("refusal"), &mut acc);
                }
                if changed {
                    clear_logprobs(choice, Value::Null);
                }
            }
        }
        Format::OpenAiResponses => {
            for item in items(body.get_mut("output")).filter(|i| kind(i) == "message") {
                for part in items(item.get_mut("content")) {
                    let field = match kind(part) {
                        "output_text" => "text",
                        "refusal" => "refusal",
                        _ => continue,
                    };
                    if redact_value(det, part.get_mut(field), &mut acc) {
                        clear_logprobs(part, Value::Array(Vec::new()));
                    }
                }
            }
        }
        Format::Anthropic => {
            for block in items(body.get_mut("content")).filter(|b| kind(b) == "text") {
                redact_value(det, block.get_mut("text"), &mut acc);
            }
        }
        Format::Mcp => {}
    }
    acc
}

/// Replaces a present, non-empty `logprobs` by `empty`.
fn clear_logprobs(v: &mut Value, empty: Value) {
    if let Some(lp) = v.get_mut("logprobs") {
        if !lp.is_null() {
            *lp = empty;
        }
    }
}

#[cfg(test)]
#[path = "reply_text_tests.rs"]
mod tests;
