//! Kill-chain phases, phase sets and the tool-name classifier (seed-spec §1.3, mapped onto the
//! proto's five phases).

use std::fmt;

/// A kill-chain phase. "Unknown" is not a phase: it is `Option::<Phase>::None`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Reconnaissance (scans, lookups).
    Recon = 1,
    /// Exploit development and use.
    Exploit = 2,
    /// Lateral movement (credentials, remote shells).
    Lateral = 3,
    /// Data collection.
    Collection = 4,
    /// Exfiltration.
    Exfiltration = 5,
}

impl Phase {
    /// All phases in kill-chain order.
    pub const ALL: [Phase; 5] = [
        Phase::Recon,
        Phase::Exploit,
        Phase::Lateral,
        Phase::Collection,
        Phase::Exfiltration,
    ];

    /// The phase with this number (1..=5); anything else is unknown.
    pub fn from_number(n: i64) -> Option<Phase> {
        Phase::ALL.into_iter().find(|p| *p as i64 == n)
    }

    /// Number 1..=5 as stored and sent on the wire.
    pub fn number(self) -> i16 {
        self as i16
    }

    /// Lowercase name used in reasons.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Recon => "recon",
            Phase::Exploit => "exploit",
            Phase::Lateral => "lateral",
            Phase::Collection => "collection",
            Phase::Exfiltration => "exfiltration",
        }
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of phases, stored as a bit mask (bit `n` = phase number `n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseSet(u8);

impl PhaseSet {
    /// The empty set.
    pub const EMPTY: PhaseSet = PhaseSet(0);

    /// Rebuilds a set from its stored mask; bits that are no phase are dropped.
    pub fn from_mask(mask: i64) -> PhaseSet {
        let valid = Phase::ALL.iter().fold(0u8, |m, p| m | p.bit());
        PhaseSet((mask & i64::from(valid)) as u8)
    }

    /// The stored mask.
    pub fn mask(self) -> i32 {
        i32::from(self.0)
    }

    /// Adds a phase.
    pub fn insert(&mut self, p: Phase) {
        self.0 |= p.bit();
    }

    /// Union of two sets.
    pub fn union(self, other: PhaseSet) -> PhaseSet {
        PhaseSet(self.0 | other.0)
    }

    /// True if `p` is in the set.
    pub fn contains(self, p: Phase) -> bool {
        self.0 & p.bit() != 0
    }

    /// True if no phase is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The highest phase in the set.
    pub fn max(self) -> Option<Phase> {
        Phase::ALL.into_iter().rev().find(|p| self.contains(*p))
    }

    /// The phases of the set strictly below `p`.
    pub fn below(self, p: Phase) -> PhaseSet {
        PhaseSet(self.0 & (p.bit() - 1))
    }

    /// The phases in kill-chain order.
    pub fn iter(self) -> impl Iterator<Item = Phase> {
        Phase::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// Number of phases in the set.
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
}

/// The default tool table (seed `DEFAULT_TOOL_CATEGORIES`, our phases). Keys are lowercase and
/// made of `_`-separated tokens; a key ending in `*` matches any token with that prefix.
const TOOL_TABLE: &[(&str, Phase)] = &[
    ("nmap", Phase::Recon),
    ("masscan", Phase::Recon),
    ("nmap_scan", Phase::Recon),
    ("port_scan", Phase::Recon),
    ("service_scan", Phase::Recon),
    ("dns_lookup", Phase::Recon),
    ("whois", Phase::Recon),
    ("subdomain_enum", Phase::Recon),
    ("exploit", Phase::Exploit),
    ("exploit_framework", Phase::Exploit),
    ("vuln_scan", Phase::Exploit),
    ("cve_search", Phase::Exploit),
    ("payload_gen", Phase::Exploit),
    ("credential_test", Phase::Lateral),
    ("ssh_connect", Phase::Lateral),
    ("rdp_connect", Phase::Lateral),
    ("smb_enum", Phase::Lateral),
    ("kerberos", Phase::Lateral),
    ("privilege_escalation", Phase::Lateral),
    ("db_query", Phase::Collection),
    ("file_read", Phase::Collection),
    ("screenshot", Phase::Collection),
    ("keylog", Phase::Collection),
    ("data_export", Phase::Exfiltration),
    ("exfil*", Phase::Exfiltration),
    ("upload", Phase::Exfiltration),
];

/// Category names the filter may send (exact, lowercase) and their phase.
const CATEGORY_TABLE: &[(&str, Phase)] = &[
    ("recon", Phase::Recon),
    ("reconnaissance", Phase::Recon),
    ("exploit", Phase::Exploit),
    ("lateral", Phase::Lateral),
    ("lateral_movement", Phase::Lateral),
    ("collection", Phase::Collection),
    ("data_collection", Phase::Collection),
    ("exfiltration", Phase::Exfiltration),
    ("exfil", Phase::Exfiltration),
];

fn token_matches(key: &str, token: &str) -> bool {
    match key.strip_suffix('*') {
        Some(prefix) => token.starts_with(prefix),
        None => key == token,
    }
}

/// Classifies a tool by name (and, failing that, by the filter's category).
///
/// Order: exact tool name (case-insensitive) → exact category → token match: the tool name is
/// split on `_ - . / :` and a table key matches when its tokens occur consecutively; of several
/// matching keys the highest phase wins. An empty tool name is unknown. Unlike the seed there is no
/// substring-either-way match, so `scan` or `read_file` stay unknown.
pub fn classify_tool(tool: &str, category: &str) -> Option<Phase> {
    let tool = tool.trim().to_ascii_lowercase();
    if let Some((_, p)) = TOOL_TABLE
        .iter()
        .find(|(k, _)| !k.ends_with('*') && *k == tool)
    {
        return Some(*p);
    }
    let category = category.trim().to_ascii_lowercase();
    if let Some((_, p)) = CATEGORY_TABLE.iter().find(|(k, _)| *k == category) {
        return Some(*p);
    }
    let tokens: Vec<&str> = tool
        .split(['_', '-', '.', '/', ':'])
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() {
        return None;
    }
    TOOL_TABLE
        .iter()
        .filter(|(key, _)| {
            let key_tokens: Vec<&str> = key.split('_').collect();
            tokens.windows(key_tokens.len()).any(|w| {
                w.iter()
                    .zip(key_tokens.iter())
                    .all(|(t, k)| token_matches(k, t))
            })
        })
        .map(|(_, p)| *p)
        .max()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let cases: &[(&str, Option<Phase>)] = &[
            ("nmap", Some(Phase::Recon)),
            ("masscan", Some(Phase::Recon)),
            ("port_scan", Some(Phase::Recon)),
            ("service_scan", Some(Phase::Recon)),
            ("dns_lookup", Some(Phase::Recon)),
            ("whois", Some(Phase::Recon)),
            ("subdomain_enum", Some(Phase::Recon)),
            ("exploit", Some(Phase::Exploit)),
            ("exploit_framework", Some(Phase::Exploit)),
            ("vuln_scan", Some(Phase::Exploit)),
            ("cve_search", Some(Phase::Exploit)),
            ("payload_gen", Some(Phase::Exploit)),
            ("credential_test", Some(Phase::Lateral)),
            ("ssh_connect", Some(Phase::Lateral)),
            ("rdp_connect", Some(Phase::Lateral)),
            ("smb_enum", Some(Phase::Lateral)),
            ("kerberos", Some(Phase::Lateral)),
            ("privilege_escalation", Some(Phase::Lateral)),
            ("db_query", Some(Phase::Collection)),
            ("file_read", Some(Phase::Collection)),
            ("screenshot", Some(Phase::Collection)),
            ("keylog", Some(Phase::Collection)),
            ("data_export", Some(Phase::Exfiltration)),
            ("exfil", Some(Phase::Exfiltration)),
            ("exfiltrate_data", Some(Phase::Exfiltration)),
            ("upload", Some(Phase::Exfiltration)),
            // case-insensitive exact match
            ("NMAP", Some(Phase::Recon)),
            // token matches
            ("run_nmap", Some(Phase::Recon)),
            ("mcp.nmap-scan", Some(Phase::Recon)),
            ("tools/data-export", Some(Phase::Exfiltration)),
            ("upload_data", Some(Phase::Exfiltration)),
            ("s3.upload", Some(Phase::Exfiltration)),
            // no substring-either-way quirk
            ("", None),
            ("scan", None),
            ("map", None),
            ("read_file", None),
            ("write_file", None),
            ("ping", None),
            ("traceroute", None),
            ("list_users", None),
            ("get_weather", None),
            ("exploitation_notes", None),
        ];
        for (tool, want) in cases {
            assert_eq!(classify_tool(tool, ""), *want, "tool {tool:?}");
        }
    }

    #[test]
    fn tool_name_wins_over_category() {
        assert_eq!(classify_tool("vuln_scan", "recon"), Some(Phase::Exploit));
        assert_eq!(classify_tool("custom_tool", "recon"), Some(Phase::Recon));
        assert_eq!(classify_tool("", ""), None);
    }

    #[test]
    fn phase_set_ops() {
        let mut s = PhaseSet::EMPTY;
        s.insert(Phase::Recon);
        s.insert(Phase::Exfiltration);
        assert_eq!(s.max(), Some(Phase::Exfiltration));
        assert_eq!(s.below(Phase::Exfiltration).len(), 1);
        assert_eq!(PhaseSet::from_mask(i64::from(s.mask())), s);
        assert_eq!(PhaseSet::from_mask(0xff).len(), 5);
    }
}
