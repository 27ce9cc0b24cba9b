//! Plugin configuration: the JSON given as Envoy's `configuration` StringValue.
//!
//! Parsed strictly (`deny_unknown_fields` everywhere) into [`RawConfig`], then [`RawConfig::validate`]
//! compiles it once into the immutable [`Config`] the filter uses for every request. Every error
//! names the offending field.

use std::sync::Arc;

use serde::Deserialize;

use crate::tools::DenyList;

pub mod tools;

use self::tools::{RawTools, ToolsConfig};

pub mod detect;
pub mod routes;

pub use self::routes::{
    normalise as normalise_path, PathMatch, Route, RouteChoice, Routes, UnmatchedPath,
};

/// Default `max_body_bytes`: 1 MiB, Envoy's default buffer limit.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
/// Default `state_service.timeout_ms`.
pub const DEFAULT_TIMEOUT_MS: u64 = 200;
/// Upper bound for `state_service.timeout_ms`.
pub const MAX_TIMEOUT_MS: u64 = 60_000;

/// A configuration error; the message names the field.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The JSON did not parse or did not match the schema (serde's message names the field).
    #[error("{0}")]
    Json(String),
    /// A value is out of range or malformed.
    #[error("{field} {problem}")]
    Invalid {
        /// Dotted path of the field, e.g. `state_service.timeout_ms`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

fn invalid(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field: field.into(),
        problem: problem.into(),
    }
}

/// The plugin configuration as written (before validation).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    routes: Option<Vec<routes::RawRoute>>,
    pass_paths: Option<Vec<String>>,
    unmatched_path: Option<String>,
    identity: Option<RawIdentity>,
    state_service: Option<RawStateService>,
    tools: Option<RawTools>,
    max_body_bytes: Option<u64>,
    detect: Option<detect::RawDetect>,
    replay_clock: Option<bool>,
    unknown_types: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    operator_header: Option<String>,
    session_header: Option<String>,
    tenant_header: Option<String>,
    operator_from_jwt: Option<RawJwtClaim>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJwtClaim {
    payload_in_metadata: Option<String>,
    claim: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStateService {
    cluster: Option<String>,
    timeout_ms: Option<u64>,
    failure_mode: Option<String>,
}

/// What happens to proposed tool calls when the state service cannot answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureMode {
    /// Block every call that needed the state service (default).
    Closed,
    /// Let the calls pass, marked with a warn header.
    Open,
}

impl FailureMode {
    /// The name used in config and reasons.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureMode::Closed => "closed",
            FailureMode::Open => "open",
        }
    }
}

/// Header names (lower-case) carrying the identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// Operator id header.
    pub operator: String,
    /// Session id header.
    pub session: String,
    /// Tenant id header.
    pub tenant: String,
    /// When set, the operator comes from this JWT claim that Envoy's `jwt_authn` filter put in
    /// its dynamic metadata (`payload_in_metadata`), never from the operator header.
    pub operator_claim: Option<JwtClaim>,
}

/// A claim of a JWT verified by Envoy's `jwt_authn` filter, read from its dynamic metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtClaim {
    /// `payload_in_metadata` of the `jwt_authn` provider.
    pub payload_in_metadata: String,
    /// Top-level claim name, e.g. `sub`.
    pub claim: String,
}

/// The filter-metadata namespace `jwt_authn` writes verified payloads to.
pub const JWT_AUTHN_METADATA: &str = "envoy.filters.http.jwt_authn";

impl JwtClaim {
    /// The Envoy property path of the claim:
    /// `metadata.filter_metadata["envoy.filters.http.jwt_authn"][payload_in_metadata][claim]`.
    pub fn property_path(&self) -> [&str; 5] {
        [
            "metadata",
            "filter_metadata",
            JWT_AUTHN_METADATA,
            &self.payload_in_metadata,
            &self.claim,
        ]
    }
}

/// Where and how to call the state service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateService {
    /// Envoy cluster name (HTTP/2).
    pub cluster: String,
    /// Callout timeout in milliseconds (1..=60000).
    pub timeout_ms: u64,
    /// Behaviour when the callout fails.
    pub failure_mode: FailureMode,
}

/// The compiled, immutable configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Inspected routes (first match wins), `pass_paths` and `unmatched_path`.
    pub routes: Routes,
    /// Identity headers.
    pub identity: IdentityHeaders,
    /// State service; `None` = stateless only, no callouts.
    pub state_service: Option<StateService>,
    /// Tools blocked by name.
    pub deny: DenyList,
    /// The rest of the `tools` section: allow list, argument rules, scope, classification.
    pub tools: ToolsConfig,
    /// Largest request or response body the filter buffers.
    pub max_body_bytes: usize,
    /// Compiled content detectors (`detect` section).
    pub detect: Arc<crate::detect::Detector>,
    /// Test only: take the event time of callouts from the [`REPLAY_CLOCK_HEADER`] request
    /// header (Unix milliseconds) so `llmfw replay` can run a 72-hour campaign in seconds.
    /// Default false; the header is ignored unless this is set.
    pub replay_clock: bool,
    /// What happens to an item, block, part, role or stream event of a type the filter does not
    /// know (`unknown_types`, default refuse).
    pub unknown_types: crate::wire::kinds::UnknownTypes,
    /// The detector set, for coverage records: `off`, or `v<crate version>-<8 hex of the
    /// compiled detection config>`.
    pub detector_set: String,
}

/// Request header with the simulated event time (Unix milliseconds), honoured only with
/// `replay_clock: true`.
pub const REPLAY_CLOCK_HEADER: &str = "x-llmfw-replay-clock";

impl Config {
    /// Parses and validates the plugin configuration. Empty input means all defaults.
    pub fn from_json(bytes: &[u8]) -> Result<Config, ConfigError> {
        let trimmed = bytes.iter().all(u8::is_ascii_whitespace);
        let raw: RawConfig = if trimmed {
            RawConfig::default()
        } else {
            serde_json::from_slice(bytes).map_err(|e| ConfigError::Json(e.to_string()))?
        };
        raw.validate()
    }

    /// The route for a request path (raw `:path`), if it matches one: the path is normalised
    /// first ([`routes::normalise`]). `pass_paths` and `unmatched_path` are in [`Routes::choose`].
    pub fn route_for(&self, path: &str) -> Option<&Route> {
        match self.routes.choose(path) {
            RouteChoice::Inspect(route) => Some(route),
            _ => None,
        }
    }
}

impl RawConfig {
    /// Checks every field and compiles the configuration.
    pub fn validate(self) -> Result<Config, ConfigError> {
        let routes = routes::compile(self.routes, self.pass_paths, self.unmatched_path.as_deref())?;

        let id = self.identity.unwrap_or_default();
        let identity = IdentityHeaders {
            operator: header_name(
                "identity.operator_header",
                id.operator_header,
                "x-llmfw-operator",
            )?,
            session: header_name(
                "identity.session_header",
                id.session_header,
                "x-llmfw-session",
            )?,
            tenant: header_name("identity.tenant_header", id.tenant_header, "x-llmfw-tenant")?,
            operator_claim: id.operator_from_jwt.map(jwt_claim).transpose()?,
        };

        let state_service = match self.state_service {
            None => None,
            Some(s) => {
                let cluster = s.cluster.unwrap_or_else(|| "llmfw_state".to_owned());
                if cluster.is_empty() || cluster.len() > 100 {
                    // <= 100 bytes keeps the serialised GrpcService valid UTF-8 for the SDK.
                    return Err(invalid("state_service.cluster", "must be 1 to 100 bytes"));
                }
                let timeout_ms = s.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
                if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
                    return Err(invalid(
                        "state_service.timeout_ms",
                        format!("must be between 1 and {MAX_TIMEOUT_MS}"),
                    ));
                }
                let failure_mode = match s.failure_mode.as_deref() {
                    None | Some("closed") => FailureMode::Closed,
                    Some("open") => FailureMode::Open,
                    Some(other) => {
                        return Err(invalid(
                            "state_service.failure_mode",
                            format!("must be \"closed\" or \"open\", got {other:?}"),
                        ))
                    }
                };
                Some(StateService {
                    cluster,
                    timeout_ms,
                    failure_mode,
                })
            }
        };

        let mut raw_tools = self.tools.unwrap_or_default();
        let deny_raw = raw_tools.deny.take().unwrap_or_default();
        let tools = raw_tools.compile()?;
        let deny = DenyList::compile(&deny_raw)
            .map_err(|(i, problem)| invalid(format!("tools.deny[{i}]"), problem))?;

        let max_body_bytes = match self.max_body_bytes {
            None => DEFAULT_MAX_BODY_BYTES,
            Some(n) if n == 0 || n > 64 * 1024 * 1024 => {
                return Err(invalid("max_body_bytes", "must be between 1 and 67108864"))
            }
            Some(n) => usize::try_from(n)
                .map_err(|_| invalid("max_body_bytes", "does not fit this platform"))?,
        };

        let detect_config = self.detect.unwrap_or_default().validate()?;
        let detector_set = if detect_config.enabled {
            let digest = crate::tools::sha256_hex(format!("{detect_config:?}").as_bytes());
            format!(
                "v{}-{}",
                env!("CARGO_PKG_VERSION"),
                digest.get(..8).unwrap_or("")
            )
        } else {
            "off".to_owned()
        };
        let detect = crate::detect::Detector::compile(detect_config)
            .map_err(|e| invalid("detect", format!("built-in rules failed to compile: {e}")))?;

        let unknown_types = match self.unknown_types.as_deref() {
            None => crate::wire::kinds::UnknownTypes::default(),
            Some(name) => crate::wire::kinds::UnknownTypes::from_name(name).ok_or_else(|| {
                invalid(
                    "unknown_types",
                    format!(
                        "must be one of {:?}, got {name:?}",
                        crate::wire::kinds::UnknownTypes::NAMES
                    ),
                )
            })?,
        };

        Ok(Config {
            detector_set,
            unknown_types,
            detect: Arc::new(detect),
            routes,
            identity,
            state_service,
            deny,
            tools,
            max_body_bytes,
            replay_clock: self.replay_clock.unwrap_or(false),
        })
    }
}

fn jwt_claim(raw: RawJwtClaim) -> Result<JwtClaim, ConfigError> {
    let name = |field: &str, v: Option<String>, default: &str| {
        let v = v.unwrap_or_else(|| default.to_owned());
        if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
            Err(invalid(
                field,
                "must be 1 to 128 bytes without control characters",
            ))
        } else {
            Ok(v)
        }
    };
    Ok(JwtClaim {
        payload_in_metadata: name(
            "identity.operator_from_jwt.payload_in_metadata",
            raw.payload_in_metadata,
            "jwt_payload",
        )?,
        claim: name("identity.operator_from_jwt.claim", raw.claim, "sub")?,
    })
}

fn header_name(field: &str, value: Option<String>, default: &str) -> Result<String, ConfigError> {
    let name = value
        .unwrap_or_else(|| default.to_owned())
        .to_ascii_lowercase();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.!#$%&'*+^`|~".contains(&b));
    if valid {
        Ok(name)
    } else {
        Err(invalid(field, "must be a non-empty HTTP header name"))
    }
}

#[cfg(test)]
mod tests;
