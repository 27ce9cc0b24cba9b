//! Who is talking: tenant, operator and session from configured headers; a missing operator is
//! `anonymous`; a missing session becomes a stable conversation fingerprint
//! `fp-<16 hex>` = SHA-256(system prompt, 0x00, first user message), stable across turns because
//! agents resend their history.

use crate::config::IdentityHeaders;
use crate::tools::sha256_hex;
use crate::wire::RequestView;

/// Operator id used when the header is missing.
pub const ANONYMOUS: &str = "anonymous";

/// Identity values read from request headers (before the body is known).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderIdentity {
    /// Tenant header value.
    pub tenant: Option<String>,
    /// Operator header value.
    pub operator: Option<String>,
    /// Session header value.
    pub session: Option<String>,
}

/// The resolved subject of an exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// Tenant ("" when not given).
    pub tenant: String,
    /// Operator (`anonymous` when not given).
    pub operator: String,
    /// Session id or fingerprint.
    pub session: String,
}

fn non_empty(v: Option<&str>) -> Option<String> {
    v.map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.chars().take(256).collect())
}

/// Picks the identity headers out of a header list (names compared case-insensitively).
pub fn from_headers(cfg: &IdentityHeaders, headers: &[(String, String)]) -> HeaderIdentity {
    let get = |name: &str| {
        non_empty(
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str()),
        )
    };
    HeaderIdentity {
        tenant: get(&cfg.tenant),
        operator: get(&cfg.operator),
        session: get(&cfg.session),
    }
}

/// `fp-<16 hex>` of the system prompt and first user message.
pub fn fingerprint(view: &RequestView) -> String {
    let mut material = Vec::new();
    material.extend_from_slice(view.system.as_deref().unwrap_or("").as_bytes());
    material.push(0);
    material.extend_from_slice(view.first_user.as_deref().unwrap_or("").as_bytes());
    let hex = sha256_hex(&material);
    format!("fp-{}", hex.get(..16).unwrap_or(&hex))
}

/// Resolves the subject from headers and (when the session header is missing) the request view.
pub fn resolve(headers: &HeaderIdentity, view: &RequestView) -> Subject {
    Subject {
        tenant: headers.tenant.clone().unwrap_or_default(),
        operator: headers
            .operator
            .clone()
            .unwrap_or_else(|| ANONYMOUS.to_owned()),
        session: headers.session.clone().unwrap_or_else(|| fingerprint(view)),
    }
}
