//! SQLite store (embedded, single node): WAL journal, `synchronous=FULL` (durable at commit),
//! busy timeout so concurrent writers wait instead of failing; migrated at open.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{Connection as _, Row};

use super::idempotency::{conflict_eval, prior, refuse, request_digest, Prior};
use super::{
    digests, event_rows, graph_node, recent_event, target_values, Approval, CampaignGraph,
    Evaluated, GraphEdge, RecordOutcome, SessionRow, Store, StoreError, StoreFuture, StoredEvent,
};
use crate::engine::memory::TACTICAL_SIZE;
use crate::engine::{
    self, approval_binding, Delta, EngineConfig, Evaluation, Grant, Phase, PhaseSet, Snapshot,
    TargetState, Verdict,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const INSERT_EVENT: &str = "INSERT INTO events (operator_id, request_id, call_id, event_index, \
     session_id, tenant, observed_at_ms, tool, phase, targets, action, risk, reasons, approval_id, \
     args_digest, category, request_digest) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
     ON CONFLICT (operator_id, request_id, call_id) DO NOTHING";

const UPSERT_TARGET: &str = "INSERT INTO operator_targets (operator_id, target, max_phase, \
     phases_mask, first_seen_ms, last_seen_ms, in_scope, local) \
     VALUES ($1, $2, $3, $4, $5, $5, $6, $7) \
     ON CONFLICT (operator_id, target) DO UPDATE SET \
     max_phase = MAX(operator_targets.max_phase, excluded.max_phase), \
     phases_mask = operator_targets.phases_mask | excluded.phases_mask, \
     first_seen_ms = MIN(operator_targets.first_seen_ms, excluded.first_seen_ms), \
     last_seen_ms = MAX(operator_targets.last_seen_ms, excluded.last_seen_ms), \
     in_scope = excluded.in_scope, local = excluded.local";

const UPSERT_SESSION: &str = "INSERT INTO sessions (operator_id, session_id, tenant, max_phase, \
     phases_mask, first_seen_ms, last_seen_ms, event_count, latent_log, claims_mask) \
     VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8, $9) \
     ON CONFLICT (operator_id, session_id) DO UPDATE SET \
     max_phase = MAX(sessions.max_phase, excluded.max_phase), \
     phases_mask = sessions.phases_mask | excluded.phases_mask, \
     first_seen_ms = MIN(sessions.first_seen_ms, excluded.first_seen_ms), \
     last_seen_ms = MAX(sessions.last_seen_ms, excluded.last_seen_ms), \
     event_count = sessions.event_count + excluded.event_count, \
     latent_log = MAX(sessions.latent_log, excluded.latent_log), \
     claims_mask = sessions.claims_mask | excluded.claims_mask";

const UPSERT_OPERATOR: &str = "INSERT INTO operators (operator_id, phases_mask, latent_log, \
     first_seen_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $4) \
     ON CONFLICT (operator_id) DO UPDATE SET \
     phases_mask = operators.phases_mask | excluded.phases_mask, \
     latent_log = MAX(operators.latent_log, excluded.latent_log), \
     first_seen_ms = MIN(operators.first_seen_ms, excluded.first_seen_ms), \
     last_seen_ms = MAX(operators.last_seen_ms, excluded.last_seen_ms)";

const UPSERT_BUDGET: &str = "INSERT INTO budget_counters (operator_id, budget, bucket_ms, n) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (operator_id, budget, bucket_ms) \
     DO UPDATE SET n = budget_counters.n + excluded.n";

const UPSERT_EDGE: &str = "INSERT INTO campaign_edges (operator_id, from_target, to_target, \
     first_seen_ms, last_seen_ms, n) VALUES ($1, $2, $3, $4, $4, 1) \
     ON CONFLICT (operator_id, from_target, to_target) DO UPDATE SET \
     n = campaign_edges.n + 1, \
     first_seen_ms = MIN(campaign_edges.first_seen_ms, excluded.first_seen_ms), \
     last_seen_ms = MAX(campaign_edges.last_seen_ms, excluded.last_seen_ms)";

const INSERT_APPROVAL: &str = "INSERT INTO approvals (operator_id, id, session_id, request_id, \
     call_id, tool, args_digest, status, created_at_ms, policy_version, expires_at_ms, \
     arguments) VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9, $10, $11) \
     ON CONFLICT (operator_id, id) DO NOTHING";

const CONSUME_APPROVAL: &str = "UPDATE approvals SET status = 'consumed', decided_at_ms = $3 \
     WHERE operator_id = $1 AND id = $2 AND status = 'approved'";

/// The SQLite implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (created if missing) and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(Self::options(url)?).await
    }

    /// Opens `sqlite://PATH` (created if missing); does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(Self::options(url)?).await
    }

    fn options(url: &str) -> Result<SqliteConnectOptions, StoreError> {
        Ok(SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true))
    }

    /// Opens with explicit options and applies the migrations.
    pub async fn open_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let store = Self::connect_with(options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects with explicit options; does not migrate (`serve --no-migrate`).
    pub async fn connect_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        Ok(SqliteStore { pool })
    }

    /// Applies the migrations not applied yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Fails unless every migration of this build is applied.
    pub async fn check_migrated(&self) -> Result<(), StoreError> {
        let applied: Result<Option<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await;
        super::check_schema(applied, &MIGRATOR)
    }

    /// Closes the pool (waits for connections to be returned).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn phase_number(set: PhaseSet) -> i16 {
    set.max().map_or(0, Phase::number)
}

impl Store for SqliteStore {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn ping(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
    }

    fn load_snapshot<'a>(
        &'a self,
        cfg: &'a EngineConfig,
        eval: &'a Evaluation,
    ) -> StoreFuture<'a, Snapshot> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            snapshot_on(&mut conn, cfg, eval).await
        })
    }

    fn load_request<'a>(
        &'a self,
        operator: &'a str,
        request_id: &'a str,
    ) -> StoreFuture<'a, Vec<StoredEvent>> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            request_on(&mut conn, operator, request_id).await
        })
    }

    fn record<'a>(
        &'a self,
        eval: &'a Evaluation,
        verdict: &'a Verdict,
        delta: &'a Delta,
    ) -> StoreFuture<'a, RecordOutcome> {
        Box::pin(async move {
            let mut tx = self.pool.begin().await?;
            let outcome = write_on(&mut tx, eval, verdict, delta).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }

    fn evaluate_batch<'a>(
        &'a self,
        cfg: &'a EngineConfig,
        evals: &'a [Evaluation],
    ) -> StoreFuture<'a, Vec<Evaluated>> {
        Box::pin(async move {
            // IMMEDIATE: the write lock first, so the batch's reads and writes are one serial
            // step (a deferred transaction that reads first could not upgrade after another
            // connection's commit and would fail with SQLITE_BUSY)
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let mut out = Vec::with_capacity(evals.len());
            for eval in evals {
                out.push(evaluate_on(&mut tx, cfg, eval).await?);
            }
            tx.commit().await?;
            Ok(out)
        })
    }

    fn campaign_graph<'a>(&'a self, operator: &'a str) -> StoreFuture<'a, CampaignGraph> {
        Box::pin(async move {
            let mut g = CampaignGraph::default();
            let rows = sqlx::query(
                "SELECT target, phases_mask, in_scope, local, first_seen_ms, last_seen_ms \
                 FROM operator_targets WHERE operator_id = $1 ORDER BY first_seen_ms, target",
            )
            .bind(operator)
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                let in_scope: i64 = r.try_get(2)?;
                let local: i64 = r.try_get(3)?;
                let node = graph_node(
                    r.try_get(0)?,
                    r.try_get(1)?,
                    in_scope != 0,
                    local != 0,
                    r.try_get(4)?,
                    r.try_get(5)?,
                );
                if !node.in_scope && !node.local {
                    g.fan_out += 1;
                }
                g.nodes.push(node);
            }
            let rows = sqlx::query(
                "SELECT from_target, to_target, n, first_seen_ms FROM campaign_edges \
                 WHERE operator_id = $1 ORDER BY first_seen_ms, from_target, to_target",
            )
            .bind(operator)
            .fetch_all(&self.pool)
            .await?;
            for r in rows {
                g.edges.push(GraphEdge {
                    from: r.try_get(0)?,
                    to: r.try_get(1)?,
                    count: r.try_get(2)?,
                    first_seen_ms: r.try_get(3)?,
                });
            }
            Ok(g)
        })
    }

    admin_methods!();
}

operator_from_row_fn!(sqlx::sqlite::SqliteRow);

/// The snapshot of `eval` on one connection (inside the caller's transaction, if any).
async fn snapshot_on(
    conn: &mut SqliteConnection,
    cfg: &EngineConfig,
    eval: &Evaluation,
) -> Result<Snapshot, StoreError> {
    let op = eval.subject.operator.as_str();
    let session = eval.subject.session.as_str();
    let now = eval.observed_at_ms;
    let mut snap = Snapshot::default();
    for target in target_values(eval) {
        let row = sqlx::query(
            "SELECT phases_mask, last_seen_ms FROM operator_targets \
             WHERE operator_id = $1 AND target = $2",
        )
        .bind(op)
        .bind(&target)
        .fetch_optional(&mut *conn)
        .await?;
        if let Some(r) = row {
            let mask: i64 = r.try_get(0)?;
            snap.targets.insert(
                target,
                TargetState {
                    phases: PhaseSet::from_mask(mask),
                    last_seen_ms: r.try_get(1)?,
                },
            );
        }
    }
    let fan_from = now.saturating_sub(
        i64::try_from(cfg.fanout_window_s.saturating_mul(1000)).unwrap_or(i64::MAX),
    );
    // session, operator and graph counts in one row
    let r = sqlx::query(
        "SELECT s.phases_mask, s.latent_log, s.claims_mask, o.phases_mask, o.latent_log, \
         f.n_out, f.n_fan, f.n_adv, p.n \
         FROM (SELECT 1) AS one \
         LEFT JOIN sessions s ON s.operator_id = $1 AND s.session_id = $2 \
         LEFT JOIN operators o ON o.operator_id = $1 \
         CROSS JOIN (SELECT COUNT(*) AS n_out, \
           COALESCE(SUM(CASE WHEN last_seen_ms >= $3 THEN 1 ELSE 0 END), 0) AS n_fan, \
           COALESCE(SUM(CASE WHEN max_phase >= 2 THEN 1 ELSE 0 END), 0) AS n_adv \
           FROM operator_targets WHERE operator_id = $1 AND in_scope = 0 AND local = 0) AS f \
         CROSS JOIN (SELECT COUNT(*) AS n FROM campaign_edges WHERE operator_id = $1) AS p",
    )
    .bind(op)
    .bind(session)
    .bind(fan_from)
    .fetch_one(&mut *conn)
    .await?;
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
    let rows = sqlx::query(
        "SELECT observed_at_ms, tool, phase, targets FROM events \
         WHERE operator_id = $1 AND session_id = $2 \
         ORDER BY observed_at_ms DESC, event_index DESC LIMIT $3",
    )
    .bind(op)
    .bind(session)
    .bind(TACTICAL_SIZE as i64)
    .fetch_all(&mut *conn)
    .await?;
    for r in rows.iter().rev() {
        let targets: String = r.try_get(3)?;
        snap.session.recent.push(recent_event(
            r.try_get(0)?,
            r.try_get(1)?,
            r.try_get(2)?,
            &targets,
        )?);
    }
    if !cfg.budgets.is_empty() {
        // every budget window in one statement: [[name, window start], …] in budget order, so
        // a repeated name ends with its last window
        let windows: Vec<(&str, i64)> = cfg
            .budgets
            .iter()
            .map(|b| (b.name.as_str(), b.window_start_bucket(now)))
            .collect();
        let windows =
            serde_json::to_string(&windows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let rows = sqlx::query(
            "SELECT j.value ->> 0, (SELECT COALESCE(SUM(c.n), 0) FROM budget_counters c \
             WHERE c.operator_id = $1 AND c.budget = j.value ->> 0 \
             AND c.bucket_ms >= j.value ->> 1 AND c.bucket_ms <= $3) \
             FROM json_each($2) AS j ORDER BY j.key",
        )
        .bind(op)
        .bind(&windows)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            let used: i64 = r.try_get(1)?;
            snap.operator
                .budgets_used
                .insert(r.try_get(0)?, u32::try_from(used).unwrap_or(u32::MAX));
        }
    }
    let binding = approval_binding(cfg, eval);
    for digest in digests(eval) {
        let rows = sqlx::query(
            "SELECT id, session_id, tool, expires_at_ms FROM approvals \
             WHERE operator_id = $1 AND args_digest = $2 AND status = 'approved' \
             AND policy_version = $3 ORDER BY created_at_ms, id",
        )
        .bind(op)
        .bind(&digest)
        .bind(&binding)
        .fetch_all(&mut *conn)
        .await?;
        for r in rows {
            snap.grants.push(Grant {
                id: r.try_get(0)?,
                session: r.try_get(1)?,
                tool: r.try_get(2)?,
                args_digest: digest.clone(),
                policy_version: binding.clone(),
                expires_at_ms: r.try_get(3)?,
            });
        }
    }
    Ok(snap)
}

/// The stored events of a request, in request order.
async fn request_on(
    conn: &mut SqliteConnection,
    operator: &str,
    request_id: &str,
) -> Result<Vec<StoredEvent>, StoreError> {
    request_events!(conn, operator, request_id)
}

/// Writes an evaluation's events and delta on `conn` (the caller's transaction commits).
async fn write_on(
    conn: &mut SqliteConnection,
    eval: &Evaluation,
    verdict: &Verdict,
    delta: &Delta,
) -> Result<RecordOutcome, StoreError> {
    let rows = event_rows(eval, verdict)?;
    let digest = request_digest(eval);
    let s = &eval.subject;
    let now = eval.observed_at_ms;
    // Rows are locked in one order in every transaction — events, budget counters by
    // (budget, bucket), consumed approvals by id, targets by value, session, operator,
    // edges by pair — so replicas writing the same operator wait for each other instead
    // of deadlocking; every counter is `n = n + k` in the database.
    let mut inserted = 0u64;
    let mut budgets: BTreeMap<(&str, i64), i64> = BTreeMap::new();
    for row in &rows {
        let n = sqlx::query(INSERT_EVENT)
            .bind(&s.operator)
            .bind(&eval.request_id)
            .bind(&row.call_id)
            .bind(row.index)
            .bind(&s.session)
            .bind(&s.tenant)
            .bind(now)
            .bind(&row.tool)
            .bind(row.phase)
            .bind(&row.targets)
            .bind(row.action)
            .bind(row.risk)
            .bind(&row.reasons)
            .bind(&row.approval_id)
            .bind(&row.args_digest)
            .bind(&row.category)
            .bind(&digest)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        inserted += n;
        if n == 0 {
            continue;
        }
        for b in delta.budgets.iter().filter(|b| b.call_id == row.call_id) {
            *budgets.entry((b.budget.as_str(), b.bucket_ms)).or_default() += 1;
        }
    }
    for ((budget, bucket_ms), n) in &budgets {
        sqlx::query(UPSERT_BUDGET)
            .bind(&s.operator)
            .bind(budget)
            .bind(bucket_ms)
            .bind(n)
            .execute(&mut *conn)
            .await?;
    }
    let mut consumed: Vec<&String> = delta.consumed.iter().collect();
    consumed.sort();
    for id in consumed {
        let n = sqlx::query(CONSUME_APPROVAL)
            .bind(&s.operator)
            .bind(id)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Conflict(format!("approval {id} already used")));
        }
    }
    let mut targets: Vec<_> = delta.targets.iter().collect();
    targets.sort_by(|a, b| a.target.cmp(&b.target));
    for t in targets {
        sqlx::query(UPSERT_TARGET)
            .bind(&s.operator)
            .bind(&t.target)
            .bind(phase_number(t.phases))
            .bind(t.phases.mask())
            .bind(now)
            .bind(i64::from(t.in_scope))
            .bind(i64::from(t.local))
            .execute(&mut *conn)
            .await?;
    }
    sqlx::query(UPSERT_SESSION)
        .bind(&s.operator)
        .bind(&s.session)
        .bind(&s.tenant)
        .bind(phase_number(delta.session))
        .bind(delta.session.mask())
        .bind(now)
        .bind(i64::try_from(inserted).unwrap_or(i64::MAX))
        .bind(delta.session_latent_log)
        .bind(i64::from(delta.session_claims))
        .execute(&mut *conn)
        .await?;
    sqlx::query(UPSERT_OPERATOR)
        .bind(&s.operator)
        .bind(delta.operator.mask())
        .bind(delta.operator_latent_log)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    let mut edges: Vec<&(String, String)> = delta.edges.iter().collect();
    edges.sort();
    for (from, to) in edges {
        sqlx::query(UPSERT_EDGE)
            .bind(&s.operator)
            .bind(from)
            .bind(to)
            .bind(now)
            .execute(&mut *conn)
            .await?;
    }
    for a in &delta.approvals {
        sqlx::query(INSERT_APPROVAL)
            .bind(&s.operator)
            .bind(&a.id)
            .bind(&s.session)
            .bind(&eval.request_id)
            .bind(&a.call_id)
            .bind(&a.tool)
            .bind(&a.args_digest)
            .bind(now)
            .bind(&a.policy_version)
            .bind(a.expires_at_ms)
            .bind(&a.arguments)
            .execute(&mut *conn)
            .await?;
    }
    Ok(RecordOutcome { inserted })
}

/// One evaluation of a batch, inside its transaction: retry check and snapshot (which see the
/// batch's earlier writes), engine, write; a write that consumes an approval runs in a
/// savepoint (see the PostgreSQL store).
async fn evaluate_on(
    conn: &mut SqliteConnection,
    cfg: &EngineConfig,
    eval: &Evaluation,
) -> Result<Evaluated, StoreError> {
    let digest = request_digest(eval);
    let stored = request_on(conn, &eval.subject.operator, &eval.request_id).await?;
    let (conflict, eval) = match prior(&stored, &digest) {
        Prior::Fresh => (false, std::borrow::Cow::Borrowed(eval)),
        Prior::Retry => return Ok(Evaluated::retried(&stored, false)),
        Prior::Conflict => {
            let derived = conflict_eval(eval, &digest);
            let stored = request_on(conn, &derived.subject.operator, &derived.request_id).await?;
            if !stored.is_empty() {
                // the conflicting request again: its stored (refused) verdict
                return Ok(Evaluated::retried(&stored, true));
            }
            (true, std::borrow::Cow::Owned(derived))
        }
    };
    let eval = eval.as_ref();
    let mut attempt = 0;
    loop {
        attempt += 1;
        let snapshot = snapshot_on(conn, cfg, eval).await?;
        let (mut verdict, mut delta) = engine::evaluate(cfg, &snapshot, eval);
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
            let outcome = write_on(conn, eval, &verdict, &delta).await?;
            return Ok(done(verdict, outcome));
        }
        let mut savepoint = conn.begin().await?;
        match write_on(&mut savepoint, eval, &verdict, &delta).await {
            Ok(outcome) => {
                savepoint.commit().await?;
                return Ok(done(verdict, outcome));
            }
            Err(StoreError::Conflict(_)) if attempt < 3 => savepoint.rollback().await?,
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
#[test]
fn schema_version_is_the_latest_migration() {
    let latest = MIGRATOR.iter().map(|m| m.version).max();
    assert_eq!(latest, Some(super::SCHEMA_VERSION));
}
