//! Admin HTTP (axum) on its own listener (loopback by default):
//! - open: `/healthz` (process up), `/readyz` (store answers a ping), `/metrics` (Prometheus);
//! - behind a bearer token: the JSON admin API under `/v1` (operators, sessions, campaign graph,
//!   approvals approve/deny, operator reset, audit log) and its OpenAPI 3 document at
//!   `/openapi.json`. Without a configured token these answer 403 `admin_api_disabled`.
//!
//! - open: the operator dashboard's static files under `/dashboard/` (`/` redirects there); they
//!   hold no data and read everything through `/v1` with the token the user logs in with.
//!
//! Errors are JSON `{"error": {"code", "message"}}`. Nothing here logs prompt or tool content.

mod api;
mod auth;
mod dashboard;
mod openapi;
mod overview;
mod views;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

pub use auth::{AdminToken, InvalidToken};

use crate::engine::EngineConfig;
use crate::metrics::Metrics;
use crate::store::Store;

/// Shared state of the admin endpoints.
#[derive(Clone)]
pub struct AdminState {
    /// The store.
    pub store: Arc<dyn Store>,
    /// The metrics rendered by `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The engine configuration (budget limits, risk half-life).
    pub config: Arc<EngineConfig>,
    /// The bearer token of `/v1` and `/openapi.json`; `None` turns them off.
    pub token: Option<AdminToken>,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let protected = api::routes()
        .router
        .method_not_allowed_fallback(api::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_token,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(dashboard::routes())
        .merge(protected)
        .fallback(api::not_found)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AdminState>) -> impl IntoResponse {
    match tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready".to_string()),
        Ok(Err(e)) => {
            state.metrics.store_error();
            tracing::warn!(error = %e, "readiness ping failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "store unavailable".to_string(),
            )
        }
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "store ping timed out".to_string(),
        ),
    }
}

async fn metrics(State(state): State<AdminState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
