//! Who is talking: tenant, operator and session from configured headers (or the operator from a
//! JWT claim that Envoy's `jwt_authn` verified, see [`operator_from_claim`]); a missing operator is
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
        // With a configured JWT claim the header is ignored: a client could set it.
        operator: if cfg.operator_claim.is_some() {
            None
        } else {
            get(&cfg.operator)
        },
        session: get(&cfg.session),
    }
}

/// The operator from the bytes of a verified JWT claim as the host returns the property (the
/// claim's string value); `None` (→ `anonymous`) when absent, empty or not UTF-8.
pub fn operator_from_claim(value: Option<&[u8]>) -> Option<String> {
    non_empty(value.and_then(|v| std::str::from_utf8(v).ok()))
}

/// The key the state-service callout is load-balanced on: `op-<16 hex>` of SHA-256(operator).
/// Envoy's wasm host hashes gRPC callouts on their `:authority`, which the adapter sets to this,
/// so a ring-hash cluster sends all callouts of one operator to one replica.
pub fn operator_hash_key(operator: &str) -> String {
    let hex = sha256_hex(operator.as_bytes());
    format!("op-{}", hex.get(..16).unwrap_or(&hex))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_key_is_stable_short_and_header_safe() {
        let a = operator_hash_key("alice");
        assert_eq!(a, operator_hash_key("alice"));
        assert_ne!(a, operator_hash_key("bob"));
        assert_eq!(a.len(), 19);
        assert!(a.starts_with("op-"));
        assert!(a[3..].bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn claim_value_is_trimmed_capped_and_utf8() {
        assert_eq!(
            operator_from_claim(Some(b" alice ")).as_deref(),
            Some("alice")
        );
        assert_eq!(operator_from_claim(Some(b"")), None);
        assert_eq!(operator_from_claim(Some(&[0xff, 0xfe])), None);
        assert_eq!(operator_from_claim(None), None);
        let long = "x".repeat(1000);
        assert_eq!(
            operator_from_claim(Some(long.as_bytes())).map(|s| s.len()),
            Some(256)
        );
    }
}
