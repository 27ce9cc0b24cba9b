//! Handlers of the `/v1` admin API, the route table (also checked against `openapi.json`) and
//! the JSON error type.

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::handler::Handler;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::views::{ApprovalView, AuditView, EventView, GraphView, OperatorView, SessionView};
use super::AdminState;
use crate::store::{Actor, DecideOutcome, Decision, Page, SessionFilter, StoreError};

/// Most rows one listing returns.
pub const MAX_LIMIT: i64 = 1000;
/// Events shown with a session.
const SESSION_EVENTS: i64 = 50;
/// Longest `by` of a decision or reset.
const MAX_BY: usize = 128;
/// Longest note.
const MAX_NOTE: usize = 2048;

/// The routes of the protected API and their handlers.
pub struct Routes {
    /// The router.
    pub router: Router<AdminState>,
    /// `(method, path)` of every route, in registration order.
    pub table: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn get<H: Handler<T, AdminState>, T: 'static>(mut self, path: &'static str, h: H) -> Self {
        self.router = self.router.route(path, get(h));
        self.table.push(("get", path));
        self
    }

    fn post<H: Handler<T, AdminState>, T: 'static>(mut self, path: &'static str, h: H) -> Self {
        self.router = self.router.route(path, post(h));
        self.table.push(("post", path));
        self
    }
}

/// Every protected route: the API and its OpenAPI document.
pub fn routes() -> Routes {
    Routes {
        router: Router::new(),
        table: Vec::new(),
    }
    .get("/openapi.json", super::openapi::document)
    .get("/v1/overview", super::overview::get_overview)
    .get("/v1/operators", list_operators)
    .get("/v1/operators/{operator}", get_operator)
    .get(
        "/v1/operators/{operator}/events",
        super::overview::operator_events,
    )
    .get("/v1/operators/{operator}/graph", get_graph)
    .post("/v1/operators/{operator}/reset", reset_operator)
    .get("/v1/sessions", list_sessions)
    .get("/v1/sessions/{session}", get_session)
    .get("/v1/approvals", list_approvals)
    .get("/v1/approvals/{id}", get_approval)
    .post("/v1/approvals/{id}/approve", approve)
    .post("/v1/approvals/{id}/deny", deny)
    .get("/v1/audit", list_audit)
}

/// An error answered as `{"error": {"code", "message"}}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    /// An error with a status, a stable code and a human message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(super) fn bad_request(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub(super) fn not_found(what: &str, id: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no {what} {id:?}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

pub(super) type ApiResult = Result<Response, ApiError>;

impl AdminState {
    /// Awaits a store call and maps its error to a logged 503.
    pub(super) async fn db<T>(
        &self,
        call: crate::store::StoreFuture<'_, T>,
    ) -> Result<T, ApiError> {
        call.await.map_err(|e| self.store_error(e))
    }

    fn store_error(&self, e: StoreError) -> ApiError {
        self.metrics.store_error();
        tracing::warn!(error = %e, "admin api: store failed");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store failed; see the service log",
        )
    }
}

/// Fallback of unknown paths.
pub async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Fallback of known paths with another method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Query parameters of the listings (unknown ones are ignored).
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    pub(super) limit: Option<i64>,
    offset: Option<i64>,
    operator: Option<String>,
    status: Option<String>,
    pub(super) at: Option<i64>,
    /// Substring of the operator id (operator listing).
    q: Option<String>,
    /// Window of the overview, seconds.
    pub(super) window_s: Option<i64>,
    /// Buckets of the overview's window.
    pub(super) buckets: Option<i64>,
}

impl ListQuery {
    pub(super) fn page(&self) -> Result<Page, ApiError> {
        let limit = self.limit.unwrap_or(100);
        let offset = self.offset.unwrap_or(0);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "limit must be 1..={MAX_LIMIT}"
            )));
        }
        if offset < 0 {
            return Err(ApiError::bad_request("offset must be >= 0"));
        }
        Ok(Page { limit, offset })
    }
}

pub(super) fn query(q: Result<Query<ListQuery>, QueryRejection>) -> Result<ListQuery, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

pub(super) async fn operator_view(
    state: &AdminState,
    row: crate::store::OperatorRow,
    at: Option<i64>,
) -> Result<OperatorView, ApiError> {
    let at_ms = at.unwrap_or(row.last_seen_ms);
    let budgets = state
        .store
        .budget_use(&state.config, &row.operator, at_ms)
        .await
        .map_err(|e| state.store_error(e))?;
    Ok(OperatorView::new(&state.config, row, at_ms, budgets))
}

async fn list_operators(
    State(state): State<AdminState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let page = q.page()?;
    let search = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    if search.is_some_and(|s| s.len() > MAX_BY) {
        return Err(ApiError::bad_request(format!("q: at most {MAX_BY} bytes")));
    }
    let rows = state.db(state.store.operators(search, page)).await?;
    let mut operators = Vec::with_capacity(rows.len());
    for row in rows {
        operators.push(operator_view(&state, row, q.at).await?);
    }
    Ok(
        Json(json!({"operators": operators, "limit": page.limit, "offset": page.offset}))
            .into_response(),
    )
}

async fn get_operator(
    State(state): State<AdminState>,
    Path(operator): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let page = q.page()?;
    let store = &state.store;
    let row = store
        .operator(&operator)
        .await
        .map_err(|e| state.store_error(e))?
        .ok_or_else(|| ApiError::not_found("operator", &operator))?;
    let view = operator_view(&state, row, q.at).await?;
    let filter = SessionFilter {
        operator: Some(&operator),
        session: None,
    };
    let sessions: Vec<SessionView> = store
        .sessions(filter, page)
        .await
        .map_err(|e| state.store_error(e))?
        .into_iter()
        .map(SessionView::from)
        .collect();
    let approvals: Vec<ApprovalView> = store
        .approvals(&operator)
        .await
        .map_err(|e| state.store_error(e))?
        .into_iter()
        .map(ApprovalView::from)
        .collect();
    Ok(
        Json(json!({"operator": view, "sessions": sessions, "approvals": approvals}))
            .into_response(),
    )
}

async fn get_graph(State(state): State<AdminState>, Path(operator): Path<String>) -> ApiResult {
    let known = state
        .store
        .operator(&operator)
        .await
        .map_err(|e| state.store_error(e))?;
    if known.is_none() {
        return Err(ApiError::not_found("operator", &operator));
    }
    let graph = state
        .store
        .campaign_graph(&operator)
        .await
        .map_err(|e| state.store_error(e))?;
    Ok(Json(GraphView::new(operator, graph)).into_response())
}

/// Optional body of approve, deny and reset.
#[derive(Debug, Default, Deserialize)]
struct ActorBody {
    by: Option<String>,
    note: Option<String>,
}

fn actor(body: &Bytes) -> Result<Actor, ApiError> {
    let parsed: ActorBody = if body.iter().all(u8::is_ascii_whitespace) {
        ActorBody::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("body: {e} (want {{\"by\", \"note\"}})")))?
    };
    let by = parsed
        .by
        .map(|b| b.trim().to_string())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| "admin".to_string());
    if by.len() > MAX_BY || by.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "by: at most {MAX_BY} bytes, no control characters"
        )));
    }
    let note = parsed.note.filter(|n| !n.trim().is_empty());
    if note.as_ref().is_some_and(|n| n.len() > MAX_NOTE) {
        return Err(ApiError::bad_request(format!(
            "note: at most {MAX_NOTE} bytes"
        )));
    }
    Ok(Actor {
        by,
        note,
        at_ms: now_ms(),
    })
}

async fn reset_operator(
    State(state): State<AdminState>,
    Path(operator): Path<String>,
    body: Bytes,
) -> ApiResult {
    let actor = actor(&body)?;
    let outcome = state
        .store
        .reset_operator(&operator, &actor)
        .await
        .map_err(|e| state.store_error(e))?;
    if !outcome.existed() {
        return Err(ApiError::not_found("operator", &operator));
    }
    tracing::info!(operator = %operator, by = %actor.by, events = outcome.events,
        sessions = outcome.sessions, "operator reset");
    Ok(
        Json(json!({"operator": operator, "reset": outcome, "by": actor.by, "at_ms": actor.at_ms}))
            .into_response(),
    )
}

async fn list_sessions(
    State(state): State<AdminState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let page = q.page()?;
    let filter = SessionFilter {
        operator: q.operator.as_deref(),
        session: None,
    };
    let sessions: Vec<SessionView> = state
        .store
        .sessions(filter, page)
        .await
        .map_err(|e| state.store_error(e))?
        .into_iter()
        .map(SessionView::from)
        .collect();
    Ok(
        Json(json!({"sessions": sessions, "limit": page.limit, "offset": page.offset}))
            .into_response(),
    )
}

async fn get_session(
    State(state): State<AdminState>,
    Path(session): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let event_limit = q.limit.unwrap_or(SESSION_EVENTS);
    if !(1..=MAX_LIMIT).contains(&event_limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_LIMIT}"
        )));
    }
    let filter = SessionFilter {
        operator: q.operator.as_deref(),
        session: Some(&session),
    };
    let page = Page {
        limit: 2,
        offset: 0,
    };
    let mut rows = state
        .store
        .sessions(filter, page)
        .await
        .map_err(|e| state.store_error(e))?;
    if rows.len() > 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "ambiguous_session",
            format!("several operators have a session {session:?}: add ?operator="),
        ));
    }
    let row = rows
        .pop()
        .ok_or_else(|| ApiError::not_found("session", &session))?;
    let events: Vec<EventView> = state
        .store
        .session_events(&row.operator, &row.session, event_limit)
        .await
        .map_err(|e| state.store_error(e))?
        .into_iter()
        .map(EventView::from)
        .collect();
    let approvals: Vec<ApprovalView> = state
        .store
        .approvals(&row.operator)
        .await
        .map_err(|e| state.store_error(e))?
        .into_iter()
        .filter(|a| a.session_id == row.session)
        .map(ApprovalView::from)
        .collect();
    let view = SessionView::from(row);
    Ok(Json(json!({"session": view, "events": events, "approvals": approvals})).into_response())
}

const STATUSES: [&str; 5] = ["pending", "approved", "denied", "consumed", "all"];

async fn list_approvals(
    State(state): State<AdminState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let page = q.page()?;
    let status = q.status.as_deref().unwrap_or("pending");
    if !STATUSES.contains(&status) {
        return Err(ApiError::bad_request(format!(
            "status must be one of {}",
            STATUSES.join(", ")
        )));
    }
    let filter = (status != "all").then_some(status);
    let approvals: Vec<ApprovalView> = state
        .store
        .list_approvals(filter, q.operator.as_deref(), page)
        .await
        .map_err(|e| state.store_error(e))?
        .into_iter()
        .map(ApprovalView::from)
        .collect();
    Ok(
        Json(json!({"approvals": approvals, "limit": page.limit, "offset": page.offset}))
            .into_response(),
    )
}

async fn get_approval(State(state): State<AdminState>, Path(id): Path<String>) -> ApiResult {
    let approval = state
        .store
        .approval(&id)
        .await
        .map_err(|e| state.store_error(e))?
        .ok_or_else(|| ApiError::not_found("approval", &id))?;
    Ok(Json(json!({"approval": ApprovalView::from(approval)})).into_response())
}

async fn decide(state: AdminState, id: String, body: Bytes, approve: bool) -> ApiResult {
    let actor = actor(&body)?;
    let decision = Decision {
        approve,
        by: actor.by,
        note: actor.note,
        at_ms: actor.at_ms,
    };
    let outcome = state
        .store
        .decide(&id, &decision)
        .await
        .map_err(|e| state.store_error(e))?;
    match outcome {
        DecideOutcome::Decided(a) => {
            tracing::info!(approval = %id, operator = %a.operator, status = %a.status,
                by = %decision.by, "approval decided");
            Ok(Json(json!({"approval": ApprovalView::from(a)})).into_response())
        }
        DecideOutcome::NotPending(a) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_pending",
            format!("approval {id:?} is {}, not pending", a.status),
        )),
        DecideOutcome::Unknown => Err(ApiError::not_found("approval", &id)),
    }
}

async fn approve(
    State(state): State<AdminState>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    decide(state, id, body, true).await
}

async fn deny(State(state): State<AdminState>, Path(id): Path<String>, body: Bytes) -> ApiResult {
    decide(state, id, body, false).await
}

async fn list_audit(
    State(state): State<AdminState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let page = q.page()?;
    let entries: Vec<AuditView> = state
        .store
        .audit_log(q.operator.as_deref(), page)
        .await
        .map_err(|e| state.store_error(e))?
        .into_iter()
        .map(AuditView::from)
        .collect();
    Ok(
        Json(json!({"entries": entries, "limit": page.limit, "offset": page.offset}))
            .into_response(),
    )
}
