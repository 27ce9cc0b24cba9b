//! `*` globs, matched ASCII case-insensitively: tool names (`delete_*`) and domains (`*.internal`
//! matches `a.internal` and `b.a.internal`, not `internal` or `internal.evil.com`).

/// A compiled glob: literal pieces between `*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    source: String,
    parts: Vec<String>,
    anchored_start: bool,
    anchored_end: bool,
}
impl Glob {
    /// Compiles a pattern of letters, digits, `_ - . : /` and `*` (no `**`).
    pub fn compile(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("must not be empty".to_owned());
        }
        if pattern.contains("**") {
            return Err(format!("invalid glob {pattern:?}: '**' is not allowed"));
        }
        if let Some(c) = pattern.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '/' | '*'))
        }) {
            return Err(format!(
                "invalid glob {pattern:?}: character {c:?} (allowed: letters, digits, _ - . : / and *)"
            ));
        }
        let lower = pattern.to_ascii_lowercase();
        Ok(Glob {
            source: pattern.to_owned(),
            parts: lower.split('*').map(str::to_owned).collect(),
            anchored_start: !lower.starts_with('*'),
            anchored_end: !lower.ends_with('*'),
        })
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// True when `s` (lower-cased by the caller or not; compared case-insensitively) matches.
    pub fn matches(&self, s: &str) -> bool {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return self.matches_lower(&s.to_ascii_lowercase());
        }
        self.matches_lower(s)
    }

    /// True when any of the tool name's [`super::names::forms`] matches (for `tools.rules[]`).
    pub fn matches_name(&self, name: &str) -> bool {
        super::names::forms(name).iter().any(|f| self.matches(f))
    }

    fn matches_lower(&self, s: &str) -> bool {
        if self.parts.len() == 1 {
            return self.parts.first().is_some_and(|p| p == s);
        }
        let mut rest = s;
        let last = self.parts.len() - 1;
        for (i, part) in self.parts.iter().enumerate() {
            if part.is_empty() {
                continue;
            }
            if i == 0 && self.anchored_start {
                match rest.strip_prefix(part.as_str()) {
                    Some(r) => rest = r,
                    None => return false,
                }
            } else if i == last && self.anchored_end {
                return rest.len() >= part.len() && rest.ends_with(part.as_str());
            } else {
                match rest.find(part.as_str()) {
                    Some(pos) => rest = &rest[pos + part.len()..],
                    None => return false,
                }
            }
        }
        true
    }
}
