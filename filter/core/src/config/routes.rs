//! Route choice on a normalised request path.
//!
//! Envoy normalises `:path` when the HTTP connection manager is configured to (`normalize_path`,
//! `merge_slashes`, `path_with_escaped_slashes_action`: every shipped config sets them), but a
//! deployment may not, and upstreams normalise further (case, path parameters, trailing
//! slashes). So the filter matches its routes on its own normal form of the path, never on the
//! raw bytes (defence in depth): see [`normalise`]. A path that matches no route and no
//! `pass_paths` entry gets the `unmatched_path` treatment (refused by default).

use super::{invalid, ConfigError};
use crate::wire::Format;

/// How a route's path is compared with the normalised request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    /// The normalised path starts with this (normalised) prefix.
    Prefix(String),
    /// The normalised path ends with this (normalised) suffix, which starts with `/`, so it
    /// matches whole segments: `/chat/completions` matches `/openai/deployments/x/chat/completions`.
    Suffix(String),
}

impl PathMatch {
    /// True when the normalised `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Suffix(s) => path.ends_with(s.as_str()),
        }
    }
}

/// One inspected route: requests whose normalised path matches are parsed as `format`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// How the path is matched (already normalised).
    pub path: PathMatch,
    /// Wire format of the route.
    pub format: Format,
}

/// What the filter does with a request whose path matches no route and no `pass_paths` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnmatchedPath {
    /// Answer 404 `llmfw_unmatched_path` in the first route's error format (default): an
    /// upstream that normalises paths may serve a path the filter does not recognise.
    Refuse,
    /// Forward uninspected (the behaviour before `unmatched_path` existed).
    Pass,
    /// Inspect it as this format.
    InspectAs(Format),
}

impl UnmatchedPath {
    fn parse(value: Option<&str>) -> Result<UnmatchedPath, ConfigError> {
        let problem = || {
            invalid(
                "unmatched_path",
                format!(
                    "must be \"refuse\", \"pass\" or \"inspect_as:<format>\" (formats: {})",
                    Format::NAMES.join(", ")
                ),
            )
        };
        match value {
            None | Some("refuse") => Ok(UnmatchedPath::Refuse),
            Some("pass") => Ok(UnmatchedPath::Pass),
            Some(v) => v
                .strip_prefix("inspect_as:")
                .and_then(Format::from_name)
                .map(UnmatchedPath::InspectAs)
                .ok_or_else(problem),
        }
    }
}

/// What [`Routes::choose`] decided for a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteChoice<'a> {
    /// Inspect as this route.
    Inspect(&'a Route),
    /// Inspect as this format (`unmatched_path: inspect_as:<format>`).
    InspectAs(Format),
    /// Forward uninspected (`pass_paths`, or `unmatched_path: pass`).
    Pass,
    /// Refuse (`unmatched_path: refuse`).
    Refuse,
}

/// The compiled route section: routes (first match wins), paths passed uninspected, and the
/// treatment of everything else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routes {
    /// Inspected routes, first match wins.
    pub routes: Vec<Route>,
    /// Normalised path prefixes forwarded uninspected, matched at a `/` boundary.
    pub pass_paths: Vec<String>,
    /// What happens to every other path.
    pub unmatched: UnmatchedPath,
}

/// Upper bound on rounds of percent-decoding (`%252F` → `%2F` → `/`).
const DECODE_ROUNDS: usize = 4;

/// The normal form routes are matched on: query (`?`) and fragment (`#`) cut off; `%XX` decoded
/// where it stands for an unreserved character, `/`, `\` or `%` (repeatedly, so double encoding does
/// not hide a segment); `\` read as `/`; ASCII lower-cased; `;params` dropped from every
/// segment; empty and `.` segments dropped, `..` removes the segment before it (never above the
/// root); no trailing slash. `/V1//Chat/./x/../Completions/;a?b` → `/v1/chat/completions`.
pub fn normalise(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let mut bytes = path.as_bytes().to_vec();
    for _ in 0..DECODE_ROUNDS {
        let (decoded, changed) = decode_once(&bytes);
        bytes = decoded;
        if !changed {
            break;
        }
    }
    let text = String::from_utf8_lossy(&bytes).to_ascii_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for raw in text.split(['/', '\\']) {
        let segment = raw.split(';').next().unwrap_or("");
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(text.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// One pass of decoding the escapes [`normalise`] decodes; true when anything changed.
fn decode_once(bytes: &[u8]) -> (Vec<u8>, bool) {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut changed = false;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = u8::try_from(h * 16 + l).unwrap_or(0);
                if c.is_ascii_alphanumeric() || b"-._~/\\%".contains(&c) {
                    out.push(c);
                    changed = true;
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    (out, changed)
}

impl Routes {
    /// The decision for a request `:path` (raw, as Envoy gives it).
    pub fn choose(&self, path: &str) -> RouteChoice<'_> {
        let path = normalise(path);
        if let Some(route) = self.routes.iter().find(|r| r.path.matches(&path)) {
            return RouteChoice::Inspect(route);
        }
        let passed = self.pass_paths.iter().any(|p| {
            p == "/"
                || path
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        if passed {
            return RouteChoice::Pass;
        }
        match self.unmatched {
            UnmatchedPath::Refuse => RouteChoice::Refuse,
            UnmatchedPath::Pass => RouteChoice::Pass,
            UnmatchedPath::InspectAs(format) => RouteChoice::InspectAs(format),
        }
    }

    /// The format whose error shape a refusal of an unmatched path takes: the first route's.
    pub fn refusal_format(&self) -> Format {
        match self.unmatched {
            UnmatchedPath::InspectAs(f) => f,
            _ => self.routes.first().map_or(Format::OpenAiChat, |r| r.format),
        }
    }
}

/// The route section as written.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    path_prefix: Option<String>,
    path_suffix: Option<String>,
    format: Option<String>,
}

/// Routes used when the config has no `routes`: the path forms the OpenAI-compatible and
/// Anthropic APIs are served under (`/v1/...`, without `/v1`, and Azure OpenAI's
/// `/openai/deployments/<name>/...` and `/openai/v1/...`).
pub const DEFAULT_ROUTES: [(&str, &str, &str); 6] = [
    ("prefix", "/v1/chat/completions", "openai_chat"),
    ("suffix", "/chat/completions", "openai_chat"),
    ("prefix", "/v1/responses", "openai_responses"),
    ("suffix", "/responses", "openai_responses"),
    ("prefix", "/v1/messages", "anthropic"),
    ("suffix", "/messages", "anthropic"),
];

fn path_value(field: &str, value: &str) -> Result<String, ConfigError> {
    if !value.starts_with('/') {
        return Err(invalid(field, "must start with '/'"));
    }
    let norm = normalise(value);
    if norm == "/" {
        return Err(invalid(field, "must name at least one path segment"));
    }
    Ok(norm)
}

/// Compiles `routes`, `pass_paths` and `unmatched_path`.
pub(super) fn compile(
    raw: Option<Vec<RawRoute>>,
    pass_paths: Option<Vec<String>>,
    unmatched: Option<&str>,
) -> Result<Routes, ConfigError> {
    let raw = raw.unwrap_or_else(|| {
        DEFAULT_ROUTES
            .iter()
            .map(|(kind, path, format)| RawRoute {
                path_prefix: (*kind == "prefix").then(|| (*path).to_owned()),
                path_suffix: (*kind == "suffix").then(|| (*path).to_owned()),
                format: Some((*format).to_owned()),
            })
            .collect()
    });
    let mut routes = Vec::with_capacity(raw.len());
    for (i, r) in raw.into_iter().enumerate() {
        let path = match (r.path_prefix, r.path_suffix) {
            (Some(p), None) => {
                PathMatch::Prefix(path_value(&format!("routes[{i}].path_prefix"), &p)?)
            }
            (None, Some(s)) => {
                PathMatch::Suffix(path_value(&format!("routes[{i}].path_suffix"), &s)?)
            }
            _ => {
                return Err(invalid(
                    format!("routes[{i}]"),
                    "needs exactly one of path_prefix and path_suffix",
                ))
            }
        };
        let name = r.format.as_deref().unwrap_or("openai_chat");
        let format = Format::from_name(name).ok_or_else(|| {
            invalid(
                format!("routes[{i}].format"),
                format!(
                    "unknown format {name:?} (known: {})",
                    Format::NAMES.join(", ")
                ),
            )
        })?;
        routes.push(Route { path, format });
    }
    let mut passes = Vec::new();
    for (i, p) in pass_paths.unwrap_or_default().iter().enumerate() {
        let field = format!("pass_paths[{i}]");
        if !p.starts_with('/') {
            return Err(invalid(field, "must start with '/'"));
        }
        passes.push(normalise(p));
    }
    Ok(Routes {
        routes,
        pass_paths: passes,
        unmatched: UnmatchedPath::parse(unmatched)?,
    })
}

#[cfg(test)]
#[path = "routes_tests.rs"]
mod tests;
