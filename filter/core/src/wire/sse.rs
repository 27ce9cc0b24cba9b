//! A bounded Server-Sent Events framer (WHATWG event-stream parsing) for response bodies that arrive
//! one upstream chunk at a time: events split across chunks, CR/LF/CRLF line ends (a CRLF split
//! between chunks included), multi-line `data:`, comments, and OpenAI's `data: [DONE]`.
//!
//! Each [`Event`] keeps its raw bytes so the adapter can release them unchanged or replace them.
//! Nothing grows without bound: an incomplete event larger than the configured cap is an
//! [`SseError::EventTooLarge`], after which the framer refuses more input (the caller ends the
//! stream with an error event).
//!
//! Linear time: completed events are cut off the buffer once per [`Framer::feed`], not once per
//! event, so a body of `n` bytes costs O(n) however many events it holds (each byte is scanned
//! once, copied once into its event and moved at most once; [`Framer::moved_bytes`] counts the
//! moves).

/// Default cap on one event's raw size (bytes).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 256 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Event {
    /// `event:` field (None = the default "message").
    pub event: Option<String>,
    /// `data:` lines joined with `\n`.
    pub data: String,
    /// `id:` field, if any.
    pub id: Option<String>,
    /// The raw bytes of the event, blank line included.
    pub raw: Vec<u8>,
}

impl Event {
    /// True for OpenAI's end marker `data: [DONE]`.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }
}

/// Framer errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// An event grew past the cap before it was complete.
    #[error("sse event exceeds {cap} bytes")]
    EventTooLarge {
        /// The configured cap.
        cap: usize,
    },
}

/// The framer state for one stream.
#[derive(Debug, Clone)]
pub struct Framer {
    cap: usize,
    buf: Vec<u8>,
    /// Start in `buf` of the event being read (bytes before it belong to dispatched events and are
    /// cut off at the end of `feed`).
    start: usize,
    /// Bytes of `buf` already split into lines.
    scanned: usize,
    /// Bytes moved by cutting dispatched events off `buf` (the complexity check of the tests).
    moved: u64,
    current: Event,
    has_fields: bool,
    data_lines: usize,
    failed: bool,
}

impl Framer {
    /// A framer with a cap on one event's raw size.
    pub fn new(cap: usize) -> Framer {
        Framer {
            cap: cap.max(1),
            buf: Vec::new(),
            start: 0,
            scanned: 0,
            moved: 0,
            current: Event::default(),
            has_fields: false,
            data_lines: 0,
            failed: false,
        }
    }

    /// Bytes held for an incomplete event.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Total bytes moved inside the buffer so far (never more than the bytes fed: each byte moves
    /// at most once).
    pub fn moved_bytes(&self) -> u64 {
        self.moved
    }

    /// Feeds one chunk; returns the events it completed.
    pub fn feed(&mut self, chunk: &[u8]) -> Result<Vec<Event>, SseError> {
        if self.failed {
            return Err(SseError::EventTooLarge { cap: self.cap });
        }
        self.buf.extend_from_slice(chunk);
        let mut out = Vec::new();
        loop {
            let rest = self.buf.get(self.scanned..).unwrap_or(&[]);
            let Some(pos) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') else {
                break;
            };
            let line_end = self.scanned + pos;
            let term = match self.buf.get(line_end) {
                Some(b'\r') => match self.buf.get(line_end + 1) {
                    Some(b'\n') => 2,
                    Some(_) => 1,
                    // A CR at the end: wait, the LF may come with the next chunk.
                    None => break,
                },
                _ => 1,
            };
            let line_start = self.scanned;
            self.scanned = line_end + term;
            if line_start == line_end {
                let mut ev = std::mem::take(&mut self.current);
                ev.raw = self
                    .buf
                    .get(self.start..self.scanned)
                    .unwrap_or(&[])
                    .to_vec();
                self.start = self.scanned;
                if self.has_fields {
                    out.push(ev);
                } else if let Some(last) = out.last_mut() {
                    // Stray blank lines travel with the previous event.
                    last.raw.extend_from_slice(&ev.raw);
                } else {
                    out.push(Event {
                        raw: ev.raw,
                        ..Event::default()
                    });
                }
                self.has_fields = false;
                self.data_lines = 0;
            } else {
                let line = self.buf.get(line_start..line_end).unwrap_or(&[]).to_vec();
                self.field(&line);
            }
        }
        // One cut per feed: what is left (an incomplete event) moves to the front once.
        if self.start > 0 {
            self.moved += (self.buf.len() - self.start) as u64;
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        if self.buf.len() > self.cap {
            self.failed = true;
            return Err(SseError::EventTooLarge { cap: self.cap });
        }
        Ok(out)
    }

    /// End of stream: an unterminated last event is dispatched if it has fields.
    pub fn finish(&mut self) -> Option<Event> {
        if self.failed {
            return None;
        }
        if self.scanned < self.buf.len() {
            let line = self.buf.get(self.scanned..).unwrap_or(&[]).to_vec();
            let line = line.strip_suffix(b"\r").unwrap_or(&line).to_vec();
            if !line.is_empty() {
                self.field(&line);
            }
        }
        let mut ev = std::mem::take(&mut self.current);
        ev.raw = std::mem::take(&mut self.buf);
        self.scanned = 0;
        let had = std::mem::replace(&mut self.has_fields, false);
        self.data_lines = 0;
        (had || !ev.raw.is_empty()).then_some(ev)
    }

    fn field(&mut self, line: &[u8]) {
        if line.first() == Some(&b':') {
            return; // comment
        }
        let text = String::from_utf8_lossy(line);
        let (name, value) = match text.split_once(':') {
            Some((n, v)) => (n, v.strip_prefix(' ').unwrap_or(v)),
            None => (text.as_ref(), ""),
        };
        match name {
            "data" => {
                if self.data_lines > 0 {
                    self.current.data.push('\n');
                }
                self.current.data.push_str(value);
                self.data_lines += 1;
            }
            "event" => self.current.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.current.id = Some(value.to_owned()),
            _ => {}
        }
        self.has_fields = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const STREAM: &str = ": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: content_block_delta\ndata: line1\ndata: line2\nid: 7\n\ndata:x\rdata: y\r\rdata: [DONE]\n\n";

    fn all(chunks: &[&[u8]]) -> Vec<Event> {
        let mut f = Framer::new(DEFAULT_MAX_EVENT_BYTES);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(f.feed(c).unwrap());
        }
        out.extend(f.finish());
        out
    }

    #[test]
    fn parses_fields_and_keeps_raw_bytes() {
        let evs = all(&[STREAM.as_bytes()]);
        let data: Vec<&str> = evs.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(
            data,
            vec!["", "{\"a\":1}", "line1\nline2", "x\ny", "[DONE]"]
        );
        assert_eq!(evs[2].event.as_deref(), Some("content_block_delta"));
        assert_eq!(evs[2].id.as_deref(), Some("7"));
        assert!(evs[4].is_done());
        let raw: Vec<u8> = evs.iter().flat_map(|e| e.raw.clone()).collect();
        assert_eq!(raw, STREAM.as_bytes());
    }

    #[test]
    fn crlf_split_between_chunks() {
        let evs = all(&[b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]);
        let data: Vec<&str> = evs.iter().map(|e| e.data.as_str()).collect();
        assert_eq!(data, vec!["a", "b"]);
    }

    #[test]
    fn cap_is_enforced() {
        let mut f = Framer::new(16);
        assert!(f.feed(b"data: 0123").unwrap().is_empty());
        assert_eq!(
            f.feed(b"456789abcdef"),
            Err(SseError::EventTooLarge { cap: 16 })
        );
        assert!(f.feed(b"\n\n").is_err());
        // Complete events below the cap never trip it, however many.
        let mut f = Framer::new(16);
        for _ in 0..100 {
            assert_eq!(f.feed(b"data: x\n\n").unwrap().len(), 1);
        }
    }

    #[test]
    fn a_buffered_body_of_tiny_events_is_framed_in_linear_work() {
        // 1 MiB of 9-byte events in one chunk: the old framer moved the rest of the buffer once
        // per event (~60 GB of memmove for this input); now nothing moves at all, and an
        // incomplete tail moves once.
        let body = b"data: x\n\n".repeat((1 << 20) / 9);
        let mut f = Framer::new(2 << 20);
        let events = f.feed(&body).unwrap();
        assert_eq!(events.len(), body.len() / 9);
        assert_eq!(f.moved_bytes(), 0);
        let mut tail = body.clone();
        tail.extend_from_slice(b"data: incomplete");
        let mut f = Framer::new(2 << 20);
        f.feed(&tail).unwrap();
        assert_eq!(f.moved_bytes(), "data: incomplete".len() as u64);
        assert_eq!(f.pending(), "data: incomplete".len());
    }

    proptest! {
        #[test]
        fn bytes_moved_never_exceed_bytes_fed(
            events in proptest::collection::vec(0usize..40, 1..60),
            cuts in proptest::collection::vec(0usize..4000, 0..30),
        ) {
            let mut bytes = Vec::new();
            for n in events {
                bytes.extend_from_slice(format!("data: {}\n\n", "x".repeat(n)).as_bytes());
            }
            bytes.extend_from_slice(b"data: tail");
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut f = Framer::new(DEFAULT_MAX_EVENT_BYTES);
            let mut prev = 0;
            let mut raw = Vec::new();
            for c in cuts.into_iter().chain([bytes.len()]) {
                for e in f.feed(&bytes[prev..c]).unwrap() {
                    raw.extend(e.raw);
                }
                prev = c;
            }
            raw.extend(f.finish().map(|e| e.raw).unwrap_or_default());
            prop_assert_eq!(&raw, &bytes);
            prop_assert!(f.moved_bytes() <= bytes.len() as u64, "{} > {}", f.moved_bytes(), bytes.len());
        }

        #[test]
        fn any_chunking_gives_the_same_events(cuts in proptest::collection::vec(0usize..200, 0..12)) {
            let bytes = STREAM.as_bytes();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            cuts.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut prev = 0;
            for c in cuts {
                chunks.push(&bytes[prev..c]);
                prev = c;
            }
            chunks.push(&bytes[prev..]);
            prop_assert_eq!(all(&chunks), all(&[bytes]));
        }
    }
}
