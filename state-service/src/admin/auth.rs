//! Bearer-token authentication of the admin API, compared in constant time.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::api::ApiError;
use super::AdminState;

/// Shortest accepted token (bytes).
pub const MIN_TOKEN_LEN: usize = 16;
/// Longest accepted token (bytes).
pub const MAX_TOKEN_LEN: usize = 4096;

/// A configured admin token; only its SHA-256 is kept.
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// A token that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid admin token: {0}")]
pub struct InvalidToken(pub String);

impl AdminToken {
    /// Accepts 16–4096 visible ASCII characters (no spaces); surrounding whitespace (a
    /// trailing newline of a token file) is trimmed first.
    pub fn new(token: &str) -> Result<AdminToken, InvalidToken> {
        let t = token.trim();
        if t.len() < MIN_TOKEN_LEN {
            return Err(InvalidToken(format!(
                "shorter than {MIN_TOKEN_LEN} characters"
            )));
        }
        if t.len() > MAX_TOKEN_LEN {
            return Err(InvalidToken(format!(
                "longer than {MAX_TOKEN_LEN} characters"
            )));
        }
        if !t.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(InvalidToken(
                "only visible ASCII characters, no spaces".into(),
            ));
        }
        Ok(AdminToken(Sha256::digest(t.as_bytes()).into()))
    }

    /// Whether `presented` is the token. Compares SHA-256 digests in constant time, so neither
    /// the content nor the length of the token leaks through timing.
    pub fn matches(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        constant_time_eq(&self.0, &digest)
    }
}

/// Equality of two digests without an early exit.
fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    std::hint::black_box(diff) == 0
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

fn unauthorized(code: &'static str, message: &str, challenge: &'static str) -> Response {
    let mut resp = ApiError::new(StatusCode::UNAUTHORIZED, code, message).into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    resp
}

/// Middleware of the protected routes: 403 when no token is configured, 401 with
/// `WWW-Authenticate: Bearer` when the request carries none or a wrong one.
pub async fn require_token(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let Some(token) = &state.token else {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_api_disabled",
            "the admin API is disabled: no admin token is configured \
             (set --admin-token-file or LLMFW_ADMIN_TOKEN)",
        )
        .into_response();
    };
    match bearer(&req) {
        None => unauthorized(
            "unauthenticated",
            "missing bearer token (Authorization: Bearer <token>)",
            "Bearer realm=\"llmfw-state\"",
        ),
        Some(presented) if token.matches(presented) => next.run(req).await,
        Some(_) => {
            tracing::warn!(path = %req.uri().path(), "admin request with a wrong token");
            unauthorized(
                "invalid_token",
                "wrong bearer token",
                "Bearer realm=\"llmfw-state\", error=\"invalid_token\"",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_validated_and_compared() {
        assert!(AdminToken::new("short").is_err());
        assert!(AdminToken::new("has a space in the middle").is_err());
        assert!(AdminToken::new(&"x".repeat(MAX_TOKEN_LEN + 1)).is_err());
        let t = AdminToken::new("  0123456789abcdef\n").unwrap();
        assert!(t.matches("0123456789abcdef"));
        assert!(!t.matches("0123456789abcdeg"));
        assert!(!t.matches("0123456789abcdef0"));
        assert!(!t.matches(""));
        assert_eq!(format!("{t:?}"), "AdminToken(***)");
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        let req = |v: &str| {
            axum::http::Request::builder()
                .header(header::AUTHORIZATION, v)
                .body(axum::body::Body::empty())
                .unwrap()
        };
        assert_eq!(bearer(&req("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&req("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&req("Basic abc")), None);
        assert_eq!(bearer(&req("Bearer")), None);
    }
}
