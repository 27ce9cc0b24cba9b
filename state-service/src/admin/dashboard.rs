//! The operator dashboard: the static files of `dashboard/dist`, embedded at build time by
//! `build.rs`, served under `/dashboard/` (and `/` redirects there). The files hold no data and
//! are public; every data call the pages make goes to the token-protected `/v1` API. When the
//! binary was built without `dashboard/dist` (cargo run without `make`), `/dashboard/` answers
//! 503 naming `make dashboard`.

use axum::extract::Path;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use super::AdminState;

mod assets {
    include!(concat!(env!("OUT_DIR"), "/dashboard_assets.rs"));
}

/// Content-Security-Policy of every dashboard response: only own scripts, styles and API calls.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Whether the binary carries the dashboard.
pub fn embedded() -> bool {
    !assets::ASSETS.is_empty()
}

/// The dashboard routes.
pub fn routes() -> Router<AdminState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard", get(|| async { Redirect::to("/dashboard/") }))
        .route("/dashboard/", get(|| async { serve("index.html") }))
        .route(
            "/dashboard/{*path}",
            get(|Path(path): Path<String>| async move { serve(&path) }),
        )
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map_or("", |(_, ext)| ext) {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn with_headers(mut resp: Response, cache: &'static str) -> Response {
    let h = resp.headers_mut();
    let set: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, cache),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in set {
        h.insert(name, HeaderValue::from_static(value));
    }
    resp
}

fn serve(path: &str) -> Response {
    if !embedded() {
        let body = "<!doctype html><title>llmfw dashboard not built</title>\
            <h1>The dashboard is not built into this binary</h1>\
            <p>Run <code>make dashboard</code> (or <code>make build</code>) and rebuild \
            <code>llmfw-state</code>. The admin API under <code>/v1</code> works without it.</p>";
        let resp = (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response();
        return with_headers(resp, "no-store");
    }
    let Some((name, bytes)) = assets::ASSETS.iter().find(|(name, _)| *name == path) else {
        let resp = (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found",
        )
            .into_response();
        return with_headers(resp, "no-store");
    };
    // Vite names bundled assets by content hash: they never change under one name.
    let cache = if name.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let resp = ([(header::CONTENT_TYPE, content_type(name))], *bytes).into_response();
    with_headers(resp, cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_and_headers() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("x"), "application/octet-stream");
        let resp = serve("no/such/file.js");
        let h = resp.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CSP);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(h[header::CACHE_CONTROL], "no-store");
        let want = if embedded() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        };
        assert_eq!(resp.status(), want);
    }
}
