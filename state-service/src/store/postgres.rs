//! Postgres store (production): pooled, migrated at open, default (durable) commit.

mod eval;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::Row;

use self::eval::{evaluate_on, lock_operators, request_on, snapshot_on, write_on};
use super::{
    graph_node, Approval, CampaignGraph, Evaluated, GraphEdge, RecordOutcome, SessionRow, Store,
    StoreError, StoreFuture, StoredEvent,
};
use crate::engine::{Delta, EngineConfig, Evaluation, Phase, PhaseSet, Snapshot, Verdict};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a store call waits for a pooled connection (including connecting) before it fails.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// The Postgres implementation of [`Store`].
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` and applies the migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects to `url`; does not migrate.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(PgConnectOptions::from_str(url)?).await
    }

    /// Connects with explicit options and applies the migrations.
    ///
    /// While the database is down or unreachable, sqlx retries refused connections with backoff
    /// (at most a fifth of the acquire timeout between tries) until the acquire timeout: so a
    /// call fails with [`StoreError::Database`] (`pool timed out …`) after `ACQUIRE_TIMEOUT` (1 s)
    /// instead of outliving its caller's deadline, and the first call after the database is back
    /// connects within a fifth of it. Idle connections are pinged before use, so connections
    /// killed by a database restart are replaced without restarting the service.
    pub async fn open_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let store = Self::connect_with(options).await?;
        store.migrate().await?;
        Ok(store)
    }

    /// Connects with explicit options; does not migrate (`serve --no-migrate`).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .test_before_acquire(true)
            .connect_with(options)
            .await?;
        Ok(PostgresStore { pool })
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

impl Store for PostgresStore {
    fn kind(&self) -> &'static str {
        "postgres"
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
            Ok(snapshot_on(&mut conn, cfg, eval).await?.0)
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
            lock_operators(&mut tx, &[eval.subject.operator.as_str()]).await?;
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
            let mut tx = self.pool.begin().await?;
            let operators: Vec<&str> = evals.iter().map(|e| e.subject.operator.as_str()).collect();
            lock_operators(&mut tx, &operators).await?;
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
                "SELECT target, phases_mask::BIGINT, in_scope::BIGINT, local::BIGINT, first_seen_ms, last_seen_ms \
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

operator_from_row_fn!(sqlx::postgres::PgRow);

#[cfg(test)]
#[test]
fn schema_version_is_the_latest_migration() {
    let latest = MIGRATOR.iter().map(|m| m.version).max();
    assert_eq!(latest, Some(super::SCHEMA_VERSION));
}
