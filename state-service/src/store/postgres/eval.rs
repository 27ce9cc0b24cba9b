//! The evaluation path of the PostgreSQL store: the snapshot and the write of one evaluation, one
//! statement each (every round trip costs service and backend CPU), and the group-commit batch
//! that runs them for many evaluations in one transaction.

use sqlx::postgres::PgConnection;
use sqlx::{Connection as _, Row};

use super::phase_number;
use crate::engine::memory::TACTICAL_SIZE;
use crate::engine::{
    self, approval_binding, Delta, EngineConfig, Evaluation, Grant, PhaseSet, Snapshot,
    TargetState, Verdict,
};
use crate::store::idempotency::{conflict_eval, prior, refuse, request_digest, Prior};
use crate::store::{
    digests, event_rows, operator_lock_keys, recent_event, target_values, Evaluated, RecordOutcome,
    StoreError, StoredEvent,
};

/// The whole snapshot of one evaluation and its retry check as one statement (one round trip):
/// the session, operator and graph counts as columns, the exchange's targets, the tactical
/// buffer, budget use per window and approved grants as JSON arrays.
const SNAPSHOT: &str = "SELECT s.phases_mask::BIGINT, s.latent_log, s.claims_mask::BIGINT, \
     o.phases_mask::BIGINT, o.latent_log, f.n_out, f.n_fan, f.n_adv, p.n, \
     EXISTS (SELECT 1 FROM events WHERE operator_id = $1 AND request_id = $4), \
     (SELECT COALESCE(json_agg(json_build_array(t.target, t.phases_mask, t.last_seen_ms)), \
       '[]')::TEXT FROM operator_targets t WHERE t.operator_id = $1 AND t.target = ANY($5)), \
     (SELECT COALESCE(json_agg(json_build_array(r.observed_at_ms, r.tool, r.phase, r.targets) \
       ORDER BY r.k), '[]')::TEXT \
       FROM (SELECT observed_at_ms, tool, phase, targets, \
         row_number() OVER (ORDER BY observed_at_ms DESC, event_index DESC) AS k \
         FROM events WHERE operator_id = $1 AND session_id = $2 \
         ORDER BY observed_at_ms DESC, event_index DESC LIMIT $6) r), \
     (SELECT COALESCE(json_agg(json_build_array(x.name, x.used) ORDER BY x.i), '[]')::TEXT \
       FROM (SELECT b.i, b.name, COALESCE(SUM(c.n), 0)::BIGINT AS used \
         FROM unnest($7::TEXT[], $8::BIGINT[]) WITH ORDINALITY AS b(name, start, i) \
         LEFT JOIN budget_counters c ON c.operator_id = $1 AND c.budget = b.name \
         AND c.bucket_ms >= b.start AND c.bucket_ms <= $9 GROUP BY b.i, b.name) x), \
     (SELECT COALESCE(json_agg(json_build_array(a.id, a.session_id, a.tool, a.expires_at_ms, \
       a.args_digest) ORDER BY array_position($10, a.args_digest), a.created_at_ms, a.id), \
       '[]')::TEXT FROM approvals a WHERE a.operator_id = $1 AND a.args_digest = ANY($10) \
       AND a.status = 'approved' AND a.policy_version = $11) \
     FROM (SELECT 1) AS one \
     LEFT JOIN sessions s ON s.operator_id = $1 AND s.session_id = $2 \
     LEFT JOIN operators o ON o.operator_id = $1 \
     CROSS JOIN (SELECT COUNT(*) AS n_out, \
       COALESCE(SUM(CASE WHEN last_seen_ms >= $3 THEN 1 ELSE 0 END), 0)::BIGINT AS n_fan, \
       COALESCE(SUM(CASE WHEN max_phase >= 2 THEN 1 ELSE 0 END), 0)::BIGINT AS n_adv \
       FROM operator_targets WHERE operator_id = $1 AND in_scope = 0 AND local = 0) AS f \
     CROSS JOIN (SELECT COUNT(*) AS n FROM campaign_edges WHERE operator_id = $1) AS p";

fn from_json<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// The snapshot of `eval` on one connection (inside the caller's transaction, if any) and
/// whether its request id is stored already (a retry), in one round trip ([`SNAPSHOT`]).
pub(super) async fn snapshot_on(
    conn: &mut PgConnection,
    cfg: &EngineConfig,
    eval: &Evaluation,
) -> Result<(Snapshot, bool), StoreError> {
    let now = eval.observed_at_ms;
    let fan_from = now.saturating_sub(
        i64::try_from(cfg.fanout_window_s.saturating_mul(1000)).unwrap_or(i64::MAX),
    );
    let names: Vec<&str> = cfg.budgets.iter().map(|b| b.name.as_str()).collect();
    let starts: Vec<i64> = cfg
        .budgets
        .iter()
        .map(|b| b.window_start_bucket(now))
        .collect();
    let binding = approval_binding(cfg, eval);
    let r = sqlx::query(SNAPSHOT)
        .bind(&eval.subject.operator)
        .bind(&eval.subject.session)
        .bind(fan_from)
        .bind(&eval.request_id)
        .bind(target_values(eval))
        .bind(TACTICAL_SIZE as i64)
        .bind(&names)
        .bind(&starts)
        .bind(now)
        .bind(digests(eval))
        .bind(&binding)
        .fetch_one(&mut *conn)
        .await?;
    let mut snap = Snapshot::default();
    let session_mask: Option<i64> = r.try_get(0)?;
    if let Some(mask) = session_mask {
        let claims: i64 = r.try_get(2)?;
        snap.session.phases = PhaseSet::from_mask(mask);
        snap.session.latent_log = r.try_get(1)?;
        snap.session.claims = u32::try_from(claims).unwrap_or(0);
    }
    let operator_mask: Option<i64> = r.try_get(3)?;
    if let Some(mask) = operator_mask {
        snap.operator.phases = PhaseSet::from_mask(mask);
        snap.operator.latent_log = r.try_get(4)?;
    }
    let count = |i: usize| -> Result<u32, StoreError> {
        let v: i64 = r.try_get(i)?;
        Ok(u32::try_from(v).unwrap_or(u32::MAX))
    };
    snap.operator.targets_out_of_scope = count(5)?;
    snap.operator.fanout = count(6)?;
    snap.operator.advanced_targets = count(7)?;
    snap.operator.pivots = count(8)?;
    let retried: bool = r.try_get(9)?;
    let targets: Vec<(String, i64, i64)> = from_json("targets", r.try_get(10)?)?;
    for (target, mask, last_seen_ms) in targets {
        snap.targets.insert(
            target,
            TargetState {
                phases: PhaseSet::from_mask(mask),
                last_seen_ms,
            },
        );
    }
    // newest first in the JSON: the buffer is oldest first
    let recent: Vec<(i64, String, i64, String)> = from_json("recent", r.try_get(11)?)?;
    for (at_ms, tool, phase, targets) in recent.into_iter().rev() {
        snap.session
            .recent
            .push(recent_event(at_ms, tool, phase, &targets)?);
    }
    // in budget order, so a repeated name ends with its last window
    let budgets: Vec<(String, i64)> = from_json("budgets", r.try_get(12)?)?;
    for (name, used) in budgets {
        snap.operator
            .budgets_used
            .insert(name, u32::try_from(used).unwrap_or(u32::MAX));
    }
    let grants: Vec<(String, String, String, i64, String)> = from_json("grants", r.try_get(13)?)?;
    for (id, session, tool, expires_at_ms, args_digest) in grants {
        snap.grants.push(Grant {
            id,
            session,
            tool,
            args_digest,
            policy_version: binding.clone(),
            expires_at_ms,
        });
    }
    Ok((snap, retried))
}

/// The whole write of one evaluation as one statement (one round trip): events, then budget
/// increments of the newly stored events only, targets, session (counting the newly stored
/// events), operator, pivot edges and new approvals, each `INSERT … ON CONFLICT` merging as
/// the single statements do.
const WRITE_EVALUATION: &str = "WITH ev AS ( \
     INSERT INTO events (operator_id, request_id, call_id, event_index, session_id, tenant, \
     observed_at_ms, tool, phase, targets, action, risk, reasons, approval_id, args_digest, \
     category, request_digest) \
     SELECT $1, $2, e.call_id, e.idx, $3, $4, $5, e.tool, e.phase, e.targets, e.action, e.risk, \
     e.reasons, e.approval_id, e.digest, e.category, $40 \
     FROM unnest($6::TEXT[], $7::INTEGER[], $8::TEXT[], $9::SMALLINT[], $10::TEXT[], \
     $11::TEXT[], $12::DOUBLE PRECISION[], $13::TEXT[], $14::TEXT[], $15::TEXT[], $39::TEXT[]) \
     AS e(call_id, idx, tool, phase, targets, action, risk, reasons, approval_id, digest, \
     category) \
     ON CONFLICT (operator_id, request_id, call_id) DO NOTHING RETURNING call_id), \
   bu AS ( \
     INSERT INTO budget_counters (operator_id, budget, bucket_ms, n) \
     SELECT $1, b.budget, b.bucket, COUNT(*) \
     FROM unnest($16::TEXT[], $17::TEXT[], $18::BIGINT[]) AS b(call_id, budget, bucket) \
     JOIN ev ON ev.call_id = b.call_id GROUP BY b.budget, b.bucket \
     ON CONFLICT (operator_id, budget, bucket_ms) \
     DO UPDATE SET n = budget_counters.n + EXCLUDED.n), \
   tg AS ( \
     INSERT INTO operator_targets (operator_id, target, max_phase, phases_mask, first_seen_ms, \
     last_seen_ms, in_scope, local) \
     SELECT $1, t.target, t.max_phase, t.mask, $5, $5, t.in_scope, t.local \
     FROM unnest($19::TEXT[], $20::SMALLINT[], $21::INTEGER[], $22::INTEGER[], $23::INTEGER[]) \
     AS t(target, max_phase, mask, in_scope, local) \
     ON CONFLICT (operator_id, target) DO UPDATE SET \
     max_phase = GREATEST(operator_targets.max_phase, EXCLUDED.max_phase), \
     phases_mask = operator_targets.phases_mask | EXCLUDED.phases_mask, \
     first_seen_ms = LEAST(operator_targets.first_seen_ms, EXCLUDED.first_seen_ms), \
     last_seen_ms = GREATEST(operator_targets.last_seen_ms, EXCLUDED.last_seen_ms), \
     in_scope = EXCLUDED.in_scope, local = EXCLUDED.local), \
   se AS ( \
     INSERT INTO sessions (operator_id, session_id, tenant, max_phase, phases_mask, \
     first_seen_ms, last_seen_ms, event_count, latent_log, claims_mask) \
     SELECT $1, $3, $4, $24, $25, $5, $5, (SELECT COUNT(*) FROM ev), $26, $27 \
     ON CONFLICT (operator_id, session_id) DO UPDATE SET \
     max_phase = GREATEST(sessions.max_phase, EXCLUDED.max_phase), \
     phases_mask = sessions.phases_mask | EXCLUDED.phases_mask, \
     first_seen_ms = LEAST(sessions.first_seen_ms, EXCLUDED.first_seen_ms), \
     last_seen_ms = GREATEST(sessions.last_seen_ms, EXCLUDED.last_seen_ms), \
     event_count = sessions.event_count + EXCLUDED.event_count, \
     latent_log = GREATEST(sessions.latent_log, EXCLUDED.latent_log), \
     claims_mask = sessions.claims_mask | EXCLUDED.claims_mask), \
   op AS ( \
     INSERT INTO operators (operator_id, phases_mask, latent_log, first_seen_ms, last_seen_ms) \
     VALUES ($1, $28, $29, $5, $5) \
     ON CONFLICT (operator_id) DO UPDATE SET \
     phases_mask = operators.phases_mask | EXCLUDED.phases_mask, \
     latent_log = GREATEST(operators.latent_log, EXCLUDED.latent_log), \
     first_seen_ms = LEAST(operators.first_seen_ms, EXCLUDED.first_seen_ms), \
     last_seen_ms = GREATEST(operators.last_seen_ms, EXCLUDED.last_seen_ms)), \
   ed AS ( \
     INSERT INTO campaign_edges (operator_id, from_target, to_target, first_seen_ms, \
     last_seen_ms, n) SELECT $1, x.f, x.t, $5, $5, 1 FROM unnest($30::TEXT[], $31::TEXT[]) AS x(f, t) \
     ON CONFLICT (operator_id, from_target, to_target) DO UPDATE SET \
     n = campaign_edges.n + 1, \
     first_seen_ms = LEAST(campaign_edges.first_seen_ms, EXCLUDED.first_seen_ms), \
     last_seen_ms = GREATEST(campaign_edges.last_seen_ms, EXCLUDED.last_seen_ms)), \
   ap AS ( \
     INSERT INTO approvals (operator_id, id, session_id, request_id, call_id, tool, args_digest, \
     status, created_at_ms, policy_version, expires_at_ms, arguments) \
     SELECT $1, a.id, $3, $2, a.call_id, a.tool, a.digest, 'pending', $5, a.pv, a.exp, a.args \
     FROM unnest($32::TEXT[], $33::TEXT[], $34::TEXT[], $35::TEXT[], $36::TEXT[], $37::BIGINT[], \
     $38::TEXT[]) AS a(id, call_id, tool, digest, pv, exp, args) \
     ON CONFLICT (operator_id, id) DO NOTHING) \
   SELECT COUNT(*) FROM ev";

/// Writes an evaluation's events and delta on `conn` (the caller's transaction commits) in one
/// round trip ([`WRITE_EVALUATION`]); approvals it consumes first, in their own statement, all
/// or nothing ([`StoreError::Conflict`], nothing written, if another writer used one).
pub(super) async fn write_on(
    conn: &mut PgConnection,
    eval: &Evaluation,
    verdict: &Verdict,
    delta: &Delta,
) -> Result<RecordOutcome, StoreError> {
    let s = &eval.subject;
    let now = eval.observed_at_ms;
    if !delta.consumed.is_empty() {
        let mut ids: Vec<&str> = delta.consumed.iter().map(String::as_str).collect();
        ids.sort_unstable();
        ids.dedup();
        let n = sqlx::query(
            "UPDATE approvals SET status = 'consumed', decided_at_ms = $3 \
             WHERE operator_id = $1 AND id = ANY($2) AND status = 'approved'",
        )
        .bind(&s.operator)
        .bind(&ids)
        .bind(now)
        .execute(&mut *conn)
        .await?
        .rows_affected();
        if n != u64::try_from(ids.len()).unwrap_or(u64::MAX) {
            return Err(StoreError::Conflict(format!(
                "approvals {ids:?}: one was already used"
            )));
        }
    }
    let rows = event_rows(eval, verdict)?;
    let mut targets: Vec<_> = delta.targets.iter().collect();
    targets.sort_by(|a, b| a.target.cmp(&b.target));
    let mut edges: Vec<&(String, String)> = delta.edges.iter().collect();
    edges.sort();
    let n: i64 = sqlx::query_scalar(WRITE_EVALUATION)
        .bind(&s.operator)
        .bind(&eval.request_id)
        .bind(&s.session)
        .bind(&s.tenant)
        .bind(now)
        .bind(rows.iter().map(|r| r.call_id.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.index).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.tool.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.phase).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.targets.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.action).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.risk).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.reasons.as_str()).collect::<Vec<_>>())
        .bind(
            rows.iter()
                .map(|r| r.approval_id.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|r| r.args_digest.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .budgets
                .iter()
                .map(|b| b.call_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .budgets
                .iter()
                .map(|b| b.budget.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .budgets
                .iter()
                .map(|b| b.bucket_ms)
                .collect::<Vec<_>>(),
        )
        .bind(
            targets
                .iter()
                .map(|t| t.target.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            targets
                .iter()
                .map(|t| phase_number(t.phases))
                .collect::<Vec<_>>(),
        )
        .bind(targets.iter().map(|t| t.phases.mask()).collect::<Vec<_>>())
        .bind(
            targets
                .iter()
                .map(|t| i32::from(t.in_scope))
                .collect::<Vec<_>>(),
        )
        .bind(
            targets
                .iter()
                .map(|t| i32::from(t.local))
                .collect::<Vec<_>>(),
        )
        .bind(phase_number(delta.session))
        .bind(delta.session.mask())
        .bind(delta.session_latent_log)
        .bind(i32::try_from(delta.session_claims).unwrap_or(0))
        .bind(delta.operator.mask())
        .bind(delta.operator_latent_log)
        .bind(edges.iter().map(|e| e.0.as_str()).collect::<Vec<_>>())
        .bind(edges.iter().map(|e| e.1.as_str()).collect::<Vec<_>>())
        .bind(
            delta
                .approvals
                .iter()
                .map(|a| a.id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .approvals
                .iter()
                .map(|a| a.call_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .approvals
                .iter()
                .map(|a| a.tool.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .approvals
                .iter()
                .map(|a| a.args_digest.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .approvals
                .iter()
                .map(|a| a.policy_version.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .approvals
                .iter()
                .map(|a| a.expires_at_ms)
                .collect::<Vec<_>>(),
        )
        .bind(
            delta
                .approvals
                .iter()
                .map(|a| a.arguments.as_deref())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.category.as_str()).collect::<Vec<_>>())
        .bind(request_digest(eval))
        .fetch_one(&mut *conn)
        .await?;
    Ok(RecordOutcome {
        inserted: u64::try_from(n).unwrap_or(0),
    })
}

/// The stored events of a request, in request order.
pub(super) async fn request_on(
    conn: &mut PgConnection,
    operator: &str,
    request_id: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    request_events!(conn, operator, request_id)
}

/// Takes the transaction-scoped advisory lock of each operator, in key order (one lock order
/// for every writer: no deadlock between replicas batching different operator sets), and
/// switches the transaction to generic plans: every statement of the evaluation path looks rows
/// up by key prefix, and re-planning the larger ones on each execution cost more CPU than
/// running them.
pub(super) async fn lock_operators(
    conn: &mut PgConnection,
    operators: &[&str],
) -> Result<(), StoreError> {
    let keys = operator_lock_keys(operators.iter().copied());
    sqlx::query(
        "SELECT pg_advisory_xact_lock(k), \
         set_config('plan_cache_mode', 'force_generic_plan', true) \
         FROM unnest($1::BIGINT[]) AS k",
    )
    .bind(&keys)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// One evaluation of a batch, inside its transaction: retry check and snapshot (which see the
/// batch's earlier writes), engine, write. A write that consumes an approval runs in a
/// savepoint, so a lost race for the approval rolls back only this evaluation, which is then
/// evaluated once more on fresh state.
pub(super) async fn evaluate_on(
    conn: &mut PgConnection,
    cfg: &EngineConfig,
    eval: &Evaluation,
) -> Result<Evaluated, StoreError> {
    let digest = request_digest(eval);
    let mut current = std::borrow::Cow::Borrowed(eval);
    let mut conflict = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        let e = current.as_ref();
        let (snapshot, stored_before) = snapshot_on(conn, cfg, e).await?;
        if stored_before {
            let stored = request_on(conn, &e.subject.operator, &e.request_id).await?;
            if conflict || prior(&stored, &digest) == Prior::Retry {
                // a retry (of the conflicting request, too): its stored verdict
                return Ok(Evaluated::retried(&stored, conflict));
            }
            // the id was used for other calls: evaluate these under the derived id, refused
            current = std::borrow::Cow::Owned(conflict_eval(eval, &digest));
            conflict = true;
            attempt -= 1;
            continue;
        }
        let (mut verdict, mut delta) = engine::evaluate(cfg, &snapshot, e);
        if conflict {
            refuse(&mut verdict, &mut delta);
        }
        let done = |verdict, outcome: RecordOutcome| Evaluated {
            verdict,
            inserted: outcome.inserted,
            retried: false,
            conflict,
        };
        if delta.consumed.is_empty() {
            let outcome = write_on(conn, e, &verdict, &delta).await?;
            return Ok(done(verdict, outcome));
        }
        let mut savepoint = conn.begin().await?;
        match write_on(&mut savepoint, e, &verdict, &delta).await {
            Ok(outcome) => {
                savepoint.commit().await?;
                return Ok(done(verdict, outcome));
            }
            Err(StoreError::Conflict(_)) if attempt < 3 => savepoint.rollback().await?,
            Err(e) => return Err(e),
        }
    }
}
