//! The coverage record of one exchange: what the filter inspected (texts by provenance, tool
//! calls, MCP units, by which format and detector set) and what it found but did not inspect —
//! refused or passed per config — by reason. The adapter logs it once per exchange without any
//! content (counts, lengths, reasons) and counts each reason in `llmfw.uninspected.<reason>`.

use crate::config::Config;
use crate::metrics::{Uninspected, UninspectedSet};
use crate::wire::{Format, Provenance, Text};

/// What one exchange inspected and what it did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    /// The route's format (`None`: the exchange was not inspected).
    pub format: Option<Format>,
    /// The detector set that judged the texts and calls: `off`, or `v<crate version>-<8 hex>`
    /// of the compiled detection config.
    pub detectors: String,
    /// Texts judged by the content detectors (prompts, tool results, definitions, MCP units).
    pub texts: u32,
    /// Bytes of those texts.
    pub text_bytes: u64,
    /// Of them: tool results and other untrusted data (documents, server-tool results).
    pub tool_results: u32,
    /// Of them: tool definitions.
    pub definitions: u32,
    /// Tool calls judged (proposed by the model, or MCP `tools/call`).
    pub calls: u32,
    /// Values of types the filter does not know, whatever `unknown_types` did with them.
    pub unknown: u32,
    /// Reasons something was found and not inspected (refused or passed).
    pub uninspected: UninspectedSet,
    /// The code of a refusal of what could not be inspected, if there was one.
    pub refused: Option<&'static str>,
}

impl Coverage {
    pub(super) fn start(config: &Config, format: Format) -> Coverage {
        Coverage {
            format: Some(format),
            detectors: config.detector_set.clone(),
            ..Coverage::default()
        }
    }

    /// Notes the texts handed to the detectors.
    pub(super) fn texts(&mut self, texts: &[Text]) {
        for t in texts {
            self.texts = self.texts.saturating_add(1);
            self.text_bytes = self.text_bytes.saturating_add(t.text.len() as u64);
            match t.provenance {
                Provenance::ToolResult => self.tool_results = self.tool_results.saturating_add(1),
                Provenance::ToolDefinition => self.definitions = self.definitions.saturating_add(1),
                _ => {}
            }
        }
    }

    /// Notes `n` tool results read as MCP units.
    pub(super) fn units(&mut self, n: usize) {
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        self.texts = self.texts.saturating_add(n);
        self.tool_results = self.tool_results.saturating_add(n);
    }

    pub(super) fn calls(&mut self, n: usize) {
        self.calls = self
            .calls
            .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
    }

    pub(super) fn unknown(&mut self, n: usize) {
        if n > 0 {
            self.unknown = self
                .unknown
                .saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            self.uninspected.insert(Uninspected::UnknownType);
        }
    }

    /// Notes a refusal by its code (and the reason it stands for, if it is one).
    pub(super) fn refuse(&mut self, code: &'static str) {
        self.refused = Some(code);
        if let Some(r) = reason_of_code(code) {
            self.uninspected.insert(r);
        }
    }

    /// Notes a stream ended by an error event with this code.
    pub(super) fn refuse_stream(&mut self, code: &'static str) {
        self.refused = Some(code);
        self.uninspected.insert(if code == "llmfw_body_too_large" {
            Uninspected::TooLarge
        } else {
            Uninspected::UnreadableEvent
        });
    }

    /// One log line, without content: `coverage format=… detectors=… texts=… …`.
    pub fn log_line(&self) -> String {
        let reasons: Vec<&str> = self.uninspected.iter().map(Uninspected::as_str).collect();
        format!(
            "coverage format={} detectors={} texts={} text_bytes={} tool_results={} definitions={} calls={} unknown={} uninspected={} refused={}",
            self.format.map_or("none", Format::name),
            self.detectors,
            self.texts,
            self.text_bytes,
            self.tool_results,
            self.definitions,
            self.calls,
            self.unknown,
            if reasons.is_empty() { "none".to_owned() } else { reasons.join(",") },
            self.refused.unwrap_or("none"),
        )
    }
}

/// The uninspected reason a refusal code stands for.
pub fn reason_of_code(code: &str) -> Option<Uninspected> {
    match code {
        super::CODE_UNKNOWN_TYPE => Some(Uninspected::UnknownType),
        super::CODE_UNINSPECTABLE => Some(Uninspected::Uninspectable),
        super::CODE_UNSUPPORTED_ENCODING => Some(Uninspected::Uninspectable),
        "llmfw_body_too_large" => Some(Uninspected::TooLarge),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_line_names_counts_and_reasons_only() {
        let config = Config::from_json(b"{}").unwrap_or_else(|e| panic!("{e}"));
        let mut c = Coverage::start(&config, Format::OpenAiResponses);
        c.texts(&[Text {
            provenance: Provenance::ToolResult,
            text: "secret prompt text".to_owned(),
            pointer: String::new(),
            tool: None,
        }]);
        c.calls(2);
        c.unknown(1);
        c.refuse(super::super::CODE_UNKNOWN_TYPE);
        let line = c.log_line();
        assert!(
            line.starts_with("coverage format=openai_responses detectors=v"),
            "{line}"
        );
        assert!(
            line.contains("texts=1 text_bytes=18 tool_results=1 definitions=0 calls=2 unknown=1"),
            "{line}"
        );
        assert!(
            line.contains("uninspected=unknown_type refused=llmfw_unknown_type"),
            "{line}"
        );
        assert!(!line.contains("secret"), "{line}");
        let off =
            Config::from_json(br#"{"detect":{"enabled":false}}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(off.detector_set, "off");
        assert_ne!(
            config.detector_set,
            Config::from_json(br#"{"detect":{"tool_result_injection":"block"}}"#)
                .unwrap_or_else(|e| panic!("{e}"))
                .detector_set
        );
    }
}
