//! The dashboard's aggregate reads: `GET /v1/overview` (decisions over time, open approvals, top
//! operators by risk) and `GET /v1/operators/{operator}/events` (an operator's timeline across
//! sessions).

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::json;

use super::api::{now_ms, operator_view, query, ApiError, ApiResult, ListQuery, MAX_LIMIT};
use super::views::{EventView, OperatorView};
use super::AdminState;
use crate::store::Page;

/// Default window of the overview (24 h).
const WINDOW_S: i64 = 86_400;
/// Longest window (30 days).
const MAX_WINDOW_S: i64 = 30 * 86_400;
/// Default and most buckets of the window.
const BUCKETS: i64 = 24;
const MAX_BUCKETS: i64 = 200;
/// Operators ranked for the overview (the most recently seen ones).
const RANKED: i64 = 500;
/// Operators listed as the top by risk.
const TOP: usize = 5;
/// Default events of an operator's timeline.
const TIMELINE_EVENTS: i64 = 200;
/// The actions, in severity order.
const ACTIONS: [&str; 4] = ["allow", "warn", "require_approval", "block"];

/// Decisions of one time bucket.
#[derive(Debug, Serialize)]
struct BucketView {
    start_ms: i64,
    allow: i64,
    warn: i64,
    require_approval: i64,
    block: i64,
}

/// `GET /v1/overview?window_s=&buckets=`.
pub async fn get_overview(
    State(state): State<AdminState>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let window_s = q.window_s.unwrap_or(WINDOW_S);
    if !(60..=MAX_WINDOW_S).contains(&window_s) {
        return Err(ApiError::bad_request(format!(
            "window_s must be 60..={MAX_WINDOW_S}"
        )));
    }
    let buckets = q.buckets.unwrap_or(BUCKETS);
    if !(1..=MAX_BUCKETS).contains(&buckets) {
        return Err(ApiError::bad_request(format!(
            "buckets must be 1..={MAX_BUCKETS}"
        )));
    }
    let until_ms = q.at.unwrap_or_else(now_ms);
    let window_ms = window_s * 1000;
    // round the bucket up so `buckets` of them cover the window
    let bucket_ms = (window_ms + buckets - 1) / buckets;
    let since_ms = until_ms - bucket_ms * buckets;
    let counts = state
        .db(state.store.action_counts(since_ms, until_ms, bucket_ms))
        .await?;
    let mut series: Vec<BucketView> = (0..buckets)
        .map(|i| BucketView {
            start_ms: since_ms + i * bucket_ms,
            allow: 0,
            warn: 0,
            require_approval: 0,
            block: 0,
        })
        .collect();
    let mut totals = [0i64; 4];
    for c in counts {
        let i = usize::try_from((c.bucket_ms - since_ms) / bucket_ms).unwrap_or(usize::MAX);
        let Some(b) = series.get_mut(i) else { continue };
        let slot = match c.action.as_str() {
            "allow" => &mut b.allow,
            "warn" => &mut b.warn,
            "require_approval" => &mut b.require_approval,
            "block" => &mut b.block,
            _ => continue,
        };
        *slot += c.count;
        if let Some(k) = ACTIONS.iter().position(|a| *a == c.action) {
            totals[k] += c.count;
        }
    }
    let page = Page {
        limit: MAX_LIMIT,
        offset: 0,
    };
    let open_approvals = state
        .db(state.store.list_approvals(Some("pending"), None, page))
        .await?
        .into_iter()
        .filter(|a| a.expires_at_ms > until_ms)
        .count();
    let ranked = Page {
        limit: RANKED,
        offset: 0,
    };
    let rows = state.db(state.store.operators(None, ranked)).await?;
    let operators = rows.len();
    let mut views: Vec<OperatorView> = Vec::with_capacity(rows.len());
    for row in rows {
        views.push(operator_view(&state, row, Some(until_ms)).await?);
    }
    views.sort_by(|a, b| {
        b.risk
            .current
            .total_cmp(&a.risk.current)
            .then_with(|| a.operator.cmp(&b.operator))
    });
    views.truncate(TOP);
    let [allow, warn, require_approval, block] = totals;
    Ok(Json(json!({
        "window": {"since_ms": since_ms, "until_ms": until_ms, "bucket_ms": bucket_ms},
        "totals": {"allow": allow, "warn": warn, "require_approval": require_approval,
                   "block": block},
        "series": series,
        "open_approvals": open_approvals,
        "operators": operators,
        "top_operators": views,
    }))
    .into_response())
}

/// `GET /v1/operators/{operator}/events?limit=`: newest first, over all sessions.
pub async fn operator_events(
    State(state): State<AdminState>,
    Path(operator): Path<String>,
    q: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(TIMELINE_EVENTS);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1..={MAX_LIMIT}"
        )));
    }
    if state.db(state.store.operator(&operator)).await?.is_none() {
        return Err(ApiError::not_found("operator", &operator));
    }
    let events: Vec<EventView> = state
        .db(state.store.operator_events(&operator, limit))
        .await?
        .into_iter()
        .map(EventView::from)
        .collect();
    Ok(Json(json!({"operator": operator, "events": events, "limit": limit})).into_response())
}
