//! SQLite store (embedded, single node): WAL journal, `synchronous=FULL` (durable at commit),
//! busy timeout so concurrent writers wait instead of failing; migrated at open.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::Row;

use super::{
    decode_event, event_rows, Approval, RecordOutcome, SessionRow, Store, StoreError, StoreFuture,
    StoredEvent,
};
use crate::engine::{Delta, Evaluation, Phase, PhaseSet, Snapshot, Verdict};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const INSERT_EVENT: &str = "INSERT INTO events (operator_id, request_id, call_id, event_index, \
     session_id, tenant, observed_at_ms, tool, phase, targets, action, risk, reasons, approval_id, \
     args_digest) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
     ON CONFLICT (operator_id, request_id, call_id) DO NOTHING";

const UPSERT_TARGET: &str = "INSERT INTO operator_targets (operator_id, target, max_phase, \
     phases_mask, first_seen_ms, last_seen_ms) VALUES ($1, $2, $3, $4, $5, $5) \
     ON CONFLICT (operator_id, target) DO UPDATE SET \
     max_phase = MAX(operator_targets.max_phase, excluded.max_phase), \
     phases_mask = operator_targets.phases_mask | excluded.phases_mask, \
     first_seen_ms = MIN(operator_targets.first_seen_ms, excluded.first_seen_ms), \
     last_seen_ms = MAX(operator_targets.last_seen_ms, excluded.last_seen_ms)";

const UPSERT_SESSION: &str = "INSERT INTO sessions (operator_id, session_id, tenant, max_phase, \
     phases_mask, first_seen_ms, last_seen_ms, event_count) VALUES ($1, $2, $3, $4, $5, $6, $6, $7) \
     ON CONFLICT (operator_id, session_id) DO UPDATE SET \
     max_phase = MAX(sessions.max_phase, excluded.max_phase), \
     phases_mask = sessions.phases_mask | excluded.phases_mask, \
     first_seen_ms = MIN(sessions.first_seen_ms, excluded.first_seen_ms), \
     last_seen_ms = MAX(sessions.last_seen_ms, excluded.last_seen_ms), \
     event_count = sessions.event_count + excluded.event_count";

const INSERT_APPROVAL: &str = "INSERT INTO approvals (operator_id, id, session_id, request_id, \
     call_id, tool, args_digest, status, created_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8) ON CONFLICT (operator_id, id) DO NOTHING";

/// The Postgres implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens `sqlite://PATH` (created if missing) and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        Self::open_with(options).await
    }

    /// Opens with explicit options and applies the migrations.
    pub async fn open_with(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(SqliteStore { pool })
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
        operator: &'a str,
        session: &'a str,
        targets: &'a [String],
    ) -> StoreFuture<'a, Snapshot> {
        Box::pin(async move {
            let mut snap = Snapshot::default();
            for target in targets {
                let mask: Option<i64> = sqlx::query_scalar(
                    "SELECT phases_mask FROM operator_targets \
                     WHERE operator_id = $1 AND target = $2",
                )
                .bind(operator)
                .bind(target)
                .fetch_optional(&self.pool)
                .await?;
                if let Some(mask) = mask {
                    snap.targets
                        .insert(target.clone(), PhaseSet::from_mask(mask));
                }
            }
            let mask: Option<i64> = sqlx::query_scalar(
                "SELECT phases_mask FROM sessions WHERE operator_id = $1 AND session_id = $2",
            )
            .bind(operator)
            .bind(session)
            .fetch_optional(&self.pool)
            .await?;
            snap.session = PhaseSet::from_mask(mask.unwrap_or(0));
            Ok(snap)
        })
    }

    fn load_request<'a>(
        &'a self,
        operator: &'a str,
        request_id: &'a str,
    ) -> StoreFuture<'a, Vec<StoredEvent>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT call_id, tool, phase, targets, action, risk, reasons, approval_id \
                 FROM events WHERE operator_id = $1 AND request_id = $2 ORDER BY event_index",
            )
            .bind(operator)
            .bind(request_id)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let phase: i64 = r.try_get(2)?;
                    let targets: String = r.try_get(3)?;
                    let action: String = r.try_get(4)?;
                    let reasons: String = r.try_get(6)?;
                    decode_event(
                        r.try_get(0)?,
                        r.try_get(1)?,
                        phase,
                        &targets,
                        &action,
                        r.try_get(5)?,
                        &reasons,
                        r.try_get(7)?,
                    )
                })
                .collect()
        })
    }

    fn record<'a>(
        &'a self,
        eval: &'a Evaluation,
        verdict: &'a Verdict,
        delta: &'a Delta,
    ) -> StoreFuture<'a, RecordOutcome> {
        Box::pin(async move {
            let rows = event_rows(eval, verdict)?;
            let s = &eval.subject;
            let now = eval.observed_at_ms;
            let mut tx = self.pool.begin().await?;
            let mut inserted = 0u64;
            for row in &rows {
                inserted += sqlx::query(INSERT_EVENT)
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
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            for (target, set) in &delta.targets {
                sqlx::query(UPSERT_TARGET)
                    .bind(&s.operator)
                    .bind(target)
                    .bind(phase_number(*set))
                    .bind(set.mask())
                    .bind(now)
                    .execute(&mut *tx)
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
                .execute(&mut *tx)
                .await?;
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
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(RecordOutcome { inserted })
        })
    }

    fn session<'a>(
        &'a self,
        operator: &'a str,
        session: &'a str,
    ) -> StoreFuture<'a, Option<SessionRow>> {
        Box::pin(async move {
            let row = sqlx::query(
                "SELECT tenant, max_phase, event_count, first_seen_ms, last_seen_ms FROM sessions \
                 WHERE operator_id = $1 AND session_id = $2",
            )
            .bind(operator)
            .bind(session)
            .fetch_optional(&self.pool)
            .await?;
            row.map(|r| {
                let phase: i64 = r.try_get(1)?;
                Ok(SessionRow {
                    tenant: r.try_get(0)?,
                    max_phase: Phase::from_number(phase),
                    event_count: r.try_get(2)?,
                    first_seen_ms: r.try_get(3)?,
                    last_seen_ms: r.try_get(4)?,
                })
            })
            .transpose()
        })
    }

    fn approvals<'a>(&'a self, operator: &'a str) -> StoreFuture<'a, Vec<Approval>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT id, session_id, tool, args_digest, status, created_at_ms FROM approvals \
                 WHERE operator_id = $1 ORDER BY created_at_ms, id",
            )
            .bind(operator)
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|r| {
                    Ok(Approval {
                        id: r.try_get(0)?,
                        session_id: r.try_get(1)?,
                        tool: r.try_get(2)?,
                        args_digest: r.try_get(3)?,
                        status: r.try_get(4)?,
                        created_at_ms: r.try_get(5)?,
                    })
                })
                .collect()
        })
    }
}
