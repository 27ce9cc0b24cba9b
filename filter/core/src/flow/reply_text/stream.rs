//! Streamed answers: the SSE bytes the filter sends on are framed again, and every text the
//! client assembles is redacted with one [`ReplyRedactor`] per text part, so the client's text
//! equals the JSON path's redaction of the whole text for every way the deltas were split.
//!
//! Parts and their events:
//! - OpenAI Chat: `choices[i].delta.content` / `.refusal` per choice; a `finish_reason` or
//!   `data: [DONE]` ends them.
//! - OpenAI Responses: per (`output_index`, `content_index`): text in `output_item.added`'s item
//!   and `content_part.added`'s part (prefixes the SDK keeps), then `output_text.delta` /
//!   `refusal.delta`; `output_text.done`, `content_part.done`, `output_item.done` and
//!   `response.completed`/`incomplete`/`failed` end them, and their full texts are replaced by
//!   exactly what the deltas delivered.
//! - Anthropic: per content block, the `text` of `content_block_start` then `text_delta`s;
//!   `content_block_stop` or `message_stop` ends it. Text blocks in `message_start` are redacted
//!   on their own.
//!
//! No event is added or dropped (sequence numbers stay as they are). A delta whose text is not
//! decided yet (it may be the start of a URL or a secret) is held, with every event after it, until
//! a later delta or the end of its part decides it; the decided text goes into the held event.
//! Held bytes are bounded: each part holds at most `detect.response_holdback_bytes` of text, and
//! the held events and assembled texts together at most the stream cap; past that the stream
//! fails (the caller ends it with an error event). Events whose text changed lose `logprobs`.

use std::collections::VecDeque;

use serde_json::Value;

use crate::detect::reply::{Redactions, ReplyRedactor};
use crate::detect::Detector;
use crate::wire::sse::{Event, Framer};
use crate::wire::Format;

/// A text part of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    /// Chat: choice index, refusal (else content).
    Chat(usize, bool),
    /// Responses: output index, content index.
    Responses(usize, usize),
    /// Anthropic: content block index.
    Anthropic(usize),
}

#[derive(Debug)]
struct Part {
    key: Key,
    /// Responses: the message item's id.
    item_id: Option<String>,
    red: ReplyRedactor,
    /// The redacted text sent so far.
    out: String,
    /// Sequence number of the held event whose slot waits for this part's text.
    open: Option<u64>,
}

#[derive(Debug)]
struct Slot {
    pointer: String,
    part: usize,
    input: String,
    text: String,
    open: bool,
}

#[derive(Debug)]
struct Queued {
    seq: u64,
    name: Option<String>,
    raw: Vec<u8>,
    json: Option<Value>,
    slots: Vec<Slot>,
    changed: bool,
}

impl Queued {
    fn waiting(&self) -> bool {
        self.slots.iter().any(|s| s.open)
    }
}

/// The stream failed its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::flow) struct TooLarge;

/// The per-stream state.
#[derive(Debug)]
pub(in crate::flow) struct ReplyStream {
    format: Format,
    cap: usize,
    framer: Framer,
    parts: Vec<Part>,
    queue: VecDeque<Queued>,
    next_seq: u64,
    held_bytes: usize,
    out_bytes: usize,
    /// Texts redacted on their own (full texts without deltas).
    alone: Redactions,
}

fn kind<'a>(name: Option<&'a str>, v: &'a Value) -> &'a str {
    v.get("type").and_then(Value::as_str).or(name).unwrap_or("")
}

fn index(v: &Value, key: &str) -> Option<usize> {
    v.get(key)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
}

fn text_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

/// `text` for `output_text` parts, `refusal` for `refusal` parts.
fn part_field(part: &Value) -> Option<&'static str> {
    match part.get("type").and_then(Value::as_str) {
        Some("output_text") => Some("text"),
        Some("refusal") => Some("refusal"),
        _ => None,
    }
}

impl ReplyStream {
    /// A processor for one stream of `format`; `cap` bounds held events and assembled texts.
    pub(in crate::flow) fn new(format: Format, cap: usize) -> ReplyStream {
        ReplyStream {
            format,
            cap,
            framer: Framer::new(cap),
            parts: Vec::new(),
            queue: VecDeque::new(),
            next_seq: 0,
            held_bytes: 0,
            out_bytes: 0,
            alone: Redactions::default(),
        }
    }

    /// What was replaced so far.
    pub(in crate::flow) fn redactions(&self) -> Redactions {
        let mut all = self.alone.clone();
        for p in &self.parts {
            all.merge(p.red.redactions());
        }
        all
    }

    /// Bytes the filter would send on → the bytes to send instead. At `end` every part ends
    /// and nothing stays held.
    pub(in crate::flow) fn feed(
        &mut self,
        det: &Detector,
        bytes: &[u8],
        end: bool,
    ) -> Result<Vec<u8>, TooLarge> {
        let mut out = Vec::new();
        let mut events = self.framer.feed(bytes).map_err(|_| TooLarge)?;
        if end {
            events.extend(self.framer.finish());
        }
        for e in events {
            self.event(det, e);
            self.flush(&mut out);
            if self.held_bytes > self.cap || self.out_bytes > self.cap {
                return Err(TooLarge);
            }
        }
        if end {
            for pi in 0..self.parts.len() {
                self.end_part(det, pi);
            }
            self.flush(&mut out);
        }
        Ok(out)
    }

    fn flush(&mut self, out: &mut Vec<u8>) {
        while self.queue.front().is_some_and(|q| !q.waiting()) {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            self.held_bytes = self.held_bytes.saturating_sub(q.raw.len());
            match (q.changed, q.json) {
                (true, Some(mut v)) => {
                    self.clear_logprobs(&mut v);
                    if let Some(name) = &q.name {
                        out.extend_from_slice(b"event: ");
                        out.extend_from_slice(name.as_bytes());
                        out.push(b'\n');
                    }
                    out.extend_from_slice(b"data: ");
                    out.extend_from_slice(v.to_string().as_bytes());
                    out.extend_from_slice(b"\n\n");
                }
                _ => out.extend_from_slice(&q.raw),
            }
        }
    }

    fn clear_logprobs(&self, v: &mut Value) {
        match self.format {
            Format::OpenAiChat => {
                let choices = v.get_mut("choices").and_then(Value::as_array_mut);
                for c in choices.into_iter().flatten() {
                    if let Some(lp) = c.get_mut("logprobs").filter(|lp| !lp.is_null()) {
                        *lp = Value::Null;
                    }
                }
            }
            Format::OpenAiResponses => {
                if let Some(lp) = v.get_mut("logprobs").filter(|lp| lp.is_array()) {
                    *lp = Value::Array(Vec::new());
                }
            }
            _ => {}
        }
    }

    fn event(&mut self, det: &Detector, e: Event) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let done = e.is_done();
        let t = e.data.trim_start();
        let json = if t.starts_with('{') {
            serde_json::from_str::<Value>(&e.data).ok()
        } else {
            None
        };
        if done && self.format == Format::OpenAiChat {
            for pi in 0..self.parts.len() {
                self.end_part(det, pi);
            }
        }
        self.held_bytes += e.raw.len();
        self.queue.push_back(Queued {
            seq,
            name: e.event.clone(),
            raw: e.raw,
            json,
            slots: Vec::new(),
            changed: false,
        });
        let Some(v) = self.queue.back().and_then(|q| q.json.clone()) else {
            return;
        };
        match self.format {
            Format::OpenAiChat => self.chat(det, &v),
            Format::OpenAiResponses => self.responses(det, e.event.as_deref(), &v),
            Format::Anthropic => self.anthropic(det, e.event.as_deref(), &v),
            Format::Mcp => {}
        }
    }

    fn chat(&mut self, det: &Detector, v: &Value) {
        let choices = v.get("choices").and_then(Value::as_array);
        for (pos, c) in choices.into_iter().flatten().enumerate() {
            let ci = index(c, "index").unwrap_or(pos);
            for (field, refusal) in [("content", false), ("refusal", true)] {
                let pointer = format!("/choices/{pos}/delta/{field}");
                if let Some(text) = text_at(v, &pointer) {
                    self.slot(det, pointer.clone(), Key::Chat(ci, refusal), None, text);
                }
            }
            if c.get("finish_reason").is_some_and(|r| !r.is_null()) {
                for refusal in [false, true] {
                    if let Some(pi) = self.find(Key::Chat(ci, refusal)) {
                        self.end_part(det, pi);
                    }
                }
            }
        }
    }

    fn responses(&mut self, det: &Detector, name: Option<&str>, v: &Value) {
        let oi = index(v, "output_index").unwrap_or(0);
        let ci = index(v, "content_index").unwrap_or(0);
        let item_id = v.get("item_id").and_then(Value::as_str).map(str::to_owned);
        match kind(name, v) {
            "response.output_text.delta" | "response.refusal.delta" => {
                if let Some(text) = text_at(v, "/delta") {
                    self.slot(det, "/delta".into(), Key::Responses(oi, ci), item_id, text);
                }
            }
            "response.output_text.done" | "response.refusal.done" => {
                let field = if v.get("refusal").is_some() {
                    "/refusal"
                } else {
                    "/text"
                };
                self.full(det, Key::Responses(oi, ci), field);
            }
            "response.content_part.added" => {
                if let Some(field) = v.get("part").and_then(part_field) {
                    let pointer = format!("/part/{field}");
                    if let Some(text) = text_at(v, &pointer).filter(|t| !t.is_empty()) {
                        self.slot(det, pointer.clone(), Key::Responses(oi, ci), item_id, text);
                    }
                }
            }
            "response.content_part.done" => {
                if let Some(field) = v.get("part").and_then(part_field) {
                    self.full(det, Key::Responses(oi, ci), &format!("/part/{field}"));
                }
            }
            "response.output_item.added" => {
                let id = v
                    .pointer("/item/id")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                let parts = v.pointer("/item/content").and_then(Value::as_array);
                for (j, part) in parts.into_iter().flatten().enumerate() {
                    let Some(field) = part_field(part) else {
                        continue;
                    };
                    let pointer = format!("/item/content/{j}/{field}");
                    if let Some(text) = text_at(v, &pointer).filter(|t| !t.is_empty()) {
                        self.slot(
                            det,
                            pointer.clone(),
                            Key::Responses(oi, j),
                            id.clone(),
                            text,
                        );
                    }
                }
            }
            "response.output_item.done" => {
                self.end_output(det, oi);
                if let Some(item) = v.get("item") {
                    self.item_texts(det, item, "/item", oi);
                }
            }
            k @ ("response.completed"
            | "response.incomplete"
            | "response.failed"
            | "response.created"
            | "response.in_progress"
            | "response.queued") => {
                let last = !matches!(
                    k,
                    "response.created" | "response.in_progress" | "response.queued"
                );
                if last {
                    for pi in 0..self.parts.len() {
                        self.end_part(det, pi);
                    }
                }
                let items = v.pointer("/response/output").and_then(Value::as_array);
                for (i, item) in items.into_iter().flatten().enumerate() {
                    let id = item.get("id").and_then(Value::as_str);
                    let oi = self
                        .parts
                        .iter()
                        .find(|p| id.is_some() && p.item_id.as_deref() == id)
                        .and_then(|p| match p.key {
                            Key::Responses(o, _) => Some(o),
                            _ => None,
                        })
                        .unwrap_or(i);
                    let oi = if last { oi } else { usize::MAX };
                    self.item_texts(det, item, &format!("/response/output/{i}"), oi);
                }
            }
            _ => {}
        }
    }

    fn anthropic(&mut self, det: &Detector, name: Option<&str>, v: &Value) {
        let bi = index(v, "index").unwrap_or(0);
        match kind(name, v) {
            "message_start" => {
                let blocks = v.pointer("/message/content").and_then(Value::as_array);
                for (j, b) in blocks.into_iter().flatten().enumerate() {
                    if b.get("type").and_then(Value::as_str) == Some("text") {
                        self.alone_text(det, &format!("/message/content/{j}/text"));
                    }
                }
            }
            "content_block_start" => {
                let text_block =
                    v.pointer("/content_block/type").and_then(Value::as_str) == Some("text");
                if let Some(text) = text_at(v, "/content_block/text").filter(|_| text_block) {
                    self.slot(
                        det,
                        "/content_block/text".into(),
                        Key::Anthropic(bi),
                        None,
                        text,
                    );
                }
            }
            "content_block_delta" => {
                let text_delta =
                    v.pointer("/delta/type").and_then(Value::as_str) == Some("text_delta");
                if let Some(text) = text_at(v, "/delta/text").filter(|_| text_delta) {
                    self.slot(det, "/delta/text".into(), Key::Anthropic(bi), None, text);
                }
            }
            "content_block_stop" => {
                if let Some(pi) = self.find(Key::Anthropic(bi)) {
                    self.end_part(det, pi);
                }
            }
            "message_stop" => {
                for pi in 0..self.parts.len() {
                    self.end_part(det, pi);
                }
            }
            _ => {}
        }
    }

    /// The texts of a Responses output item at `at` in the last queued event: a part the deltas
    /// delivered gets exactly that text (`oi` is its output index), any other text is redacted
    /// on its own.
    fn item_texts(&mut self, det: &Detector, item: &Value, at: &str, oi: usize) {
        if item.get("type").and_then(Value::as_str) != Some("message") {
            return;
        }
        let parts = item.get("content").and_then(Value::as_array);
        for (j, part) in parts.into_iter().flatten().enumerate() {
            if let Some(field) = part_field(part) {
                let pointer = format!("{at}/content/{j}/{field}");
                match self.find(Key::Responses(oi, j)) {
                    Some(pi) => self.set_full(pi, &pointer),
                    None => self.alone_text(det, &pointer),
                }
                let lp = format!("{at}/content/{j}/logprobs");
                self.with_last(|q| {
                    if q.changed {
                        if let Some(l) = q.json.as_mut().and_then(|v| v.pointer_mut(&lp)) {
                            *l = Value::Array(Vec::new());
                        }
                    }
                });
            }
        }
    }

    fn end_output(&mut self, det: &Detector, oi: usize) {
        for pi in 0..self.parts.len() {
            if matches!(self.parts.get(pi).map(|p| p.key), Some(Key::Responses(o, _)) if o == oi) {
                self.end_part(det, pi);
            }
        }
    }

    /// Ends a part and puts its full text at `pointer` of the last queued event.
    fn full(&mut self, det: &Detector, key: Key, pointer: &str) {
        match self.find(key) {
            Some(pi) => {
                self.end_part(det, pi);
                self.set_full(pi, pointer);
            }
            None => self.alone_text(det, pointer),
        }
    }

    fn set_full(&mut self, pi: usize, pointer: &str) {
        let Some(text) = self.parts.get(pi).map(|p| p.out.clone()) else {
            return;
        };
        self.with_last(|q| set_text(q, pointer, text));
    }

    /// Redacts the text at `pointer` of the last queued event on its own.
    fn alone_text(&mut self, det: &Detector, pointer: &str) {
        let Some(text) = self
            .queue
            .back()
            .and_then(|q| q.json.as_ref())
            .and_then(|v| text_at(v, pointer))
            .map(str::to_owned)
        else {
            return;
        };
        let (out, r) = det.redact_reply(&text);
        if !r.is_empty() {
            self.alone.merge(&r);
            self.with_last(|q| set_text(q, pointer, out));
        }
    }

    fn with_last(&mut self, f: impl FnOnce(&mut Queued)) {
        if let Some(q) = self.queue.back_mut() {
            f(q);
        }
    }

    fn find(&self, key: Key) -> Option<usize> {
        self.parts.iter().position(|p| p.key == key)
    }

    /// A text the client appends to part `key`, at `pointer` of the last queued event.
    fn slot(
        &mut self,
        det: &Detector,
        pointer: String,
        key: Key,
        item_id: Option<String>,
        text: &str,
    ) {
        let pi = match self.find(key) {
            Some(pi) => pi,
            None => {
                self.parts.push(Part {
                    key,
                    item_id: None,
                    red: det.reply_redactor(),
                    out: String::new(),
                    open: None,
                });
                self.parts.len() - 1
            }
        };
        let Some(part) = self.parts.get_mut(pi) else {
            return;
        };
        if part.item_id.is_none() {
            part.item_id = item_id;
        }
        let decided = part.red.push(det, text);
        let waiting = part.red.pending_len() > 0;
        let earlier = part.open.take();
        let seq = self.next_seq - 1;
        if waiting {
            part.open = Some(seq);
        }
        self.with_last(|q| {
            q.slots.push(Slot {
                pointer,
                part: pi,
                input: text.to_owned(),
                text: String::new(),
                open: true,
            });
        });
        match earlier {
            Some(at) => {
                self.fill(at, pi, &decided, true);
                self.fill(seq, pi, "", !waiting);
            }
            None => self.fill(seq, pi, &decided, !waiting),
        }
    }

    /// Ends part `pi`: the rest of its text goes to its waiting slot.
    fn end_part(&mut self, det: &Detector, pi: usize) {
        let Some(part) = self.parts.get_mut(pi) else {
            return;
        };
        let rest = part.red.finish(det);
        if let Some(at) = part.open.take() {
            self.fill(at, pi, &rest, true);
        }
    }

    /// Appends `text` to the open slot of part `pi` in the queued event `seq` (closing it when
    /// `close`), and to the part's assembled text.
    fn fill(&mut self, seq: u64, pi: usize, text: &str, close: bool) {
        if let Some(p) = self.parts.get_mut(pi) {
            p.out.push_str(text);
            self.out_bytes += text.len();
        }
        let Some(q) = self.queue.iter_mut().find(|q| q.seq == seq) else {
            return;
        };
        let Some(s) = q.slots.iter_mut().rev().find(|s| s.part == pi && s.open) else {
            return;
        };
        s.text.push_str(text);
        if close {
            s.open = false;
            if s.text != s.input {
                let (pointer, text) = (s.pointer.clone(), s.text.clone());
                set_text(q, &pointer, text);
            }
        }
    }
}

fn set_text(q: &mut Queued, pointer: &str, text: String) {
    let Some(v) = q.json.as_mut().and_then(|v| v.pointer_mut(pointer)) else {
        return;
    };
    if v.as_str() != Some(text.as_str()) {
        *v = Value::String(text);
        q.changed = true;
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
