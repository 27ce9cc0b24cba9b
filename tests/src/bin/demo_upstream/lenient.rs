//! A lenient path reader, like the normalising servers the firewall must not be bypassed
//! through (issue 16): every odd form of an endpoint's path is served by that endpoint.
//! Percent escapes decoded once, `\` read as `/`, case ignored, `;params` dropped, empty and dot
//! segments resolved, a trailing slash ignored, and any prefix before `chat/completions`,
//! `responses` or `messages` accepted (no `/v1`, Azure's `/openai/deployments/<name>/...`).
//! Written independently of the filter's normaliser, on purpose.

use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::Next;
use axum::response::Response;

/// The endpoint a lenient server would serve for `path`, if any.
fn endpoint(path: &str) -> Option<&'static str> {
    let raw = path.split('?').next().unwrap_or("");
    let bytes = raw.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                decoded.push(b);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8_lossy(&decoded).to_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for seg in text.split(['/', '\\']) {
        match seg.split(';').next().unwrap_or("") {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    match segments.as_slice() {
        [.., "chat", "completions"] => Some("/v1/chat/completions"),
        [.., "responses"] => Some("/v1/responses"),
        [.., "messages"] => Some("/v1/messages"),
        ["mcp"] => Some("/mcp"),
        _ => None,
    }
}

/// Middleware: rewrites an odd path to the endpoint it names (the query is kept).
pub async fn rewrite(mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    if let Some(target) = endpoint(&path).filter(|t| *t != path) {
        let query = req
            .uri()
            .query()
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        if let Ok(uri) = format!("{target}{query}").parse::<Uri>() {
            tracing::info!(from_len = path.len(), to = target, "lenient path");
            *req.uri_mut() = uri;
        }
    }
    next.run(req).await
}
