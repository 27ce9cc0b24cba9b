//! Classification of a tool call into a category, a kill-chain phase and its targets (with the
//! configured scope applied), per DESIGN §3.4. Used by the filter for the state-service callout and
//! by the evaluation CLI; one function, [`classify`].
//!
//! Order:
//! 1. `tools.classes` overrides from config (first matching glob);
//! 2. generic tools (shell, HTTP, SQL, file — recognised by name tokens, or by an argument such as
//!    `command`) are classified from what they carry: [`super::shell`], [`super::args`]; when the
//!    arguments hold no command/URL/statement/path, fall through;
//! 3. the tool-name table [`TOOL_TABLE`] (seed-spec §1.3 on our phases): an exact name or its
//!    `_ - . / :`-separated tokens containing a key's tokens consecutively (`exfil*` = prefix);
//!    of several matching keys the highest phase wins;
//! 4. otherwise unknown (`category` empty, phase UNKNOWN), targets from well-known argument keys.

use llmfw_api::v1::{Phase, TargetKind};
use serde_json::Value;

use super::{args, extract_targets, shell, MAX_TARGETS};
use crate::config::Config;

/// Category names sent in `ToolEvent.category`.
pub mod category {
    /// Scans, lookups, discovery.
    pub const RECON: &str = "recon";
    /// Exploit tools and vulnerability scanners.
    pub const EXPLOIT: &str = "exploit";
    /// Remote execution / remote shells on another host.
    pub const LATERAL: &str = "lateral";
    /// Credential testing, dumping, cracking (phase LATERAL).
    pub const CREDENTIAL_ACCESS: &str = "credential_access";
    /// Reads of sensitive data, bulk reads, archives of home dirs, screenshots, keylogging.
    pub const COLLECTION: &str = "collection";
    /// Data sent to another host.
    pub const EXFILTRATION: &str = "exfiltration";
    /// Destructive writes (DROP/DELETE/UPDATE, rm -rf); no kill-chain phase of its own.
    pub const IMPACT: &str = "impact";
    /// HTTP read (GET and similar).
    pub const NETWORK_READ: &str = "network_read";
    /// HTTP write to an in-scope host, or without a body.
    pub const NETWORK_WRITE: &str = "network_write";
    /// Ordinary file read.
    pub const FILE_READ: &str = "file_read";
    /// Ordinary file write.
    pub const FILE_WRITE: &str = "file_write";
    /// Ordinary database read.
    pub const DB_READ: &str = "db_read";
    /// Database write (INSERT, CREATE).
    pub const DB_WRITE: &str = "db_write";
    /// A shell command with nothing notable.
    pub const SHELL: &str = "shell";
}

/// Why an analysis stopped before the end of the arguments (the call is escalated, never judged
/// on the part read): the bound that was reached.
pub mod bound {
    /// A command line longer than [`crate::tools::cmdline::MAX_COMMAND_BYTES`].
    pub const SHELL_BYTES: &str = "shell_bytes";
    /// More than [`crate::tools::cmdline::MAX_SEGMENTS`] simple commands.
    pub const SHELL_SEGMENTS: &str = "shell_segments";
    /// `bash -c` / `$(…)` nested deeper than the analyser follows.
    pub const SHELL_DEPTH: &str = "shell_depth";
    /// A statement longer than [`crate::tools::sql_lex::MAX_SQL_BYTES`].
    pub const SQL_BYTES: &str = "sql_bytes";
    /// More than [`crate::tools::sql::MAX_STATEMENTS`] statements.
    pub const SQL_STATEMENTS: &str = "sql_statements";
    /// A string value longer than the argument detectors read.
    pub const VALUE_BYTES: &str = "argument_value_bytes";
    /// More string values than the argument detectors read.
    pub const LEAVES: &str = "argument_values";
    /// Arguments nested deeper than the argument detectors read.
    pub const NESTING: &str = "argument_nesting";
}

/// The classification of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// Category (see [`category`]; empty when nothing is known).
    pub category: String,
    /// Kill-chain phase (UNKNOWN when none).
    pub phase: Phase,
    /// Targets, de-duplicated, at most [`MAX_TARGETS`].
    pub targets: Vec<ClassifiedTarget>,
    /// Set when an analyser stopped at a bound (see [`bound`]).
    pub incomplete: Option<&'static str>,
}

/// A target with its kind and whether the configured scope contains it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassifiedTarget {
    /// The value as written (trimmed).
    pub value: String,
    /// Kind by shape and key.
    pub kind: TargetKind,
    /// True when `tools.scope` contains it.
    pub in_scope: bool,
}

/// What an analyser found: phase, category and targets (scope not yet applied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Analysis {
    pub(crate) phase: Phase,
    pub(crate) category: &'static str,
    pub(crate) targets: Vec<(String, TargetKind)>,
    pub(crate) incomplete: Option<&'static str>,
}

impl Analysis {
    pub(crate) fn new(phase: Phase, category: &'static str) -> Analysis {
        Analysis {
            phase,
            category,
            targets: Vec::new(),
            incomplete: None,
        }
    }

    pub(crate) fn with_target(mut self, value: &str, kind: TargetKind) -> Analysis {
        self.add_target(value, kind);
        self
    }

    pub(crate) fn add_target(&mut self, value: &str, kind: TargetKind) {
        let v = value.trim();
        if !v.is_empty()
            && self.targets.len() < MAX_TARGETS
            && !self.targets.iter().any(|(t, _)| t == v)
        {
            self.targets.push((v.to_owned(), kind));
        }
    }

    /// Keeps the stronger of two analyses (higher phase; else the one with a category), merging
    /// targets.
    pub(crate) fn absorb(&mut self, other: Analysis) {
        let rank = |a: &Analysis| (a.phase as i32, i32::from(a.category != category::SHELL));
        if rank(&other) > rank(self) {
            self.phase = other.phase;
            self.category = other.category;
        }
        for (v, k) in other.targets {
            self.add_target(&v, k);
        }
        self.incomplete = self.incomplete.or(other.incomplete);
    }
}

/// The default tool-name table (seed-spec §1.3 on our phases, plus common names). Keys are lower
/// case `_`-separated tokens; a trailing `*` matches any token with that prefix.
pub const TOOL_TABLE: &[(&str, Phase)] = &[
    ("nmap", Phase::Recon),
    ("masscan", Phase::Recon),
    ("nmap_scan", Phase::Recon),
    ("port_scan", Phase::Recon),
    ("service_scan", Phase::Recon),
    ("dns_lookup", Phase::Recon),
    ("whois", Phase::Recon),
    ("subdomain_enum", Phase::Recon),
    ("ping", Phase::Recon),
    ("traceroute", Phase::Recon),
    ("exploit", Phase::Exploit),
    ("exploit_framework", Phase::Exploit),
    ("vuln_scan", Phase::Exploit),
    ("cve_search", Phase::Exploit),
    ("payload_gen", Phase::Exploit),
    ("exploit_script", Phase::Exploit),
    ("credential_test", Phase::Lateral),
    ("ssh_connect", Phase::Lateral),
    ("rdp_connect", Phase::Lateral),
    ("smb_enum", Phase::Lateral),
    ("kerberos", Phase::Lateral),
    ("privilege_escalation", Phase::Lateral),
    ("db_query", Phase::Collection),
    ("file_read", Phase::Collection),
    ("read_file", Phase::Collection),
    ("screenshot", Phase::Collection),
    ("keylog", Phase::Collection),
    ("data_export", Phase::Exfiltration),
    ("upload", Phase::Exfiltration),
    ("exfil*", Phase::Exfiltration),
];

fn tokens(name: &str) -> Vec<String> {
    name.to_ascii_lowercase()
        .split(['_', '-', '.', '/', ':', ' '])
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

fn key_matches(key: &str, toks: &[String]) -> bool {
    let key_toks: Vec<&str> = key.split('_').collect();
    if key_toks.is_empty() || key_toks.len() > toks.len() {
        return false;
    }
    toks.windows(key_toks.len()).any(|w| {
        w.iter()
            .zip(&key_toks)
            .all(|(t, k)| match k.strip_suffix('*') {
                Some(prefix) => t.starts_with(prefix),
                None => t == k,
            })
    })
}

/// Phase of a tool by name alone (the table), `None` when the name says nothing.
pub fn phase_by_name(tool: &str) -> Option<Phase> {
    let lower = tool.trim().to_ascii_lowercase();
    if let Some((_, p)) = TOOL_TABLE.iter().find(|(k, _)| *k == lower) {
        return Some(*p);
    }
    let toks = tokens(&lower);
    TOOL_TABLE
        .iter()
        .filter(|(k, _)| key_matches(k, &toks))
        .map(|(_, p)| *p)
        .max_by_key(|p| *p as i32)
}

fn phase_category(p: Phase) -> &'static str {
    match p {
        Phase::Unknown => "",
        Phase::Recon => category::RECON,
        Phase::Exploit => category::EXPLOIT,
        Phase::Lateral => category::LATERAL,
        Phase::Collection => category::COLLECTION,
        Phase::Exfiltration => category::EXFILTRATION,
    }
}

/// Classifies one call. Never fails: what cannot be read is UNKNOWN.
pub fn classify(config: &Config, tool: &str, args: &Value) -> Classification {
    let (phase, category, targets, incomplete) = analyse(config, tool, args);
    let scope = &config.tools.scope;
    let targets = targets
        .into_iter()
        .map(|(value, kind)| ClassifiedTarget {
            in_scope: scope.contains(&value, kind),
            value,
            kind,
        })
        .collect();
    Classification {
        category,
        phase,
        targets,
        incomplete,
    }
}

fn analyse(
    config: &Config,
    tool: &str,
    args: &Value,
) -> (
    Phase,
    String,
    Vec<(String, TargetKind)>,
    Option<&'static str>,
) {
    let mut keyed = Analysis::new(Phase::Unknown, "");
    for t in extract_targets(args) {
        keyed.add_target(&t.value, t.kind);
    }
    if let Some(c) = config.tools.classes.iter().find(|c| c.tool.matches(tool)) {
        if let Some(a) = args::analyse(tool, args, &config.tools) {
            keyed.absorb(Analysis {
                phase: Phase::Unknown,
                category: "",
                targets: a.targets,
                incomplete: a.incomplete,
            });
        }
        return (c.phase, c.category.clone(), keyed.targets, keyed.incomplete);
    }
    if let Some(mut a) = args::analyse(tool, args, &config.tools) {
        for (v, k) in keyed.targets {
            a.add_target(&v, k);
        }
        return (a.phase, a.category.to_owned(), a.targets, a.incomplete);
    }
    let phase = phase_by_name(tool).unwrap_or(Phase::Unknown);
    // A named tool (`nmap`) with its options in a string argument: pick host-shaped words.
    if phase != Phase::Unknown {
        for key in [
            "args",
            "arguments",
            "options",
            "flags",
            "command",
            "cmd",
            "targets",
        ] {
            if let Some(s) = args.get(key).and_then(Value::as_str) {
                for (v, k) in shell::host_words(s) {
                    keyed.add_target(&v, k);
                }
            }
        }
    }
    (
        phase,
        phase_category(phase).to_owned(),
        keyed.targets,
        keyed.incomplete,
    )
}
