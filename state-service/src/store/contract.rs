//! One contract suite, run against SQLite (temp file) and Postgres (a fresh database per test).
//!
//! Postgres: `DATABASE_URL` if set, else `postgres://postgres@127.0.0.1:5432/postgres`. If it is
//! unreachable the Postgres tests fail, unless `LLMFW_SKIP_PG=1`.

mod admin;
mod batch;
mod idempotency;

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};

use super::{verdict_from_stored, PostgresStore, SqliteStore, Store};
use crate::engine::{
    self, Action, EngineConfig, Evaluation, Phase, PhaseSet, Subject, Target, ToolEvent, Verdict,
};

const T: &str = "corp-a.example.com";

fn eval(op: &str, session: &str, req: &str, at: i64, tools: &[(&str, &str)]) -> Evaluation {
    Evaluation {
        subject: Subject {
            tenant: "acme".into(),
            operator: op.into(),
            session: session.into(),
        },
        request_id: req.into(),
        observed_at_ms: at,
        events: tools
            .iter()
            .enumerate()
            .map(|(i, (tool, target))| ToolEvent {
                call_id: format!("c{i}"),
                tool: (*tool).into(),
                targets: if target.is_empty() {
                    vec![]
                } else {
                    vec![Target {
                        value: (*target).into(),
                        in_scope: false,
                        local: false,
                    }]
                },
                args_digest: format!("{:064x}", i),
                ..ToolEvent::default()
            })
            .collect(),
        ..Evaluation::default()
    }
}

/// What the service does per request: retry check, snapshot, engine, record.
async fn evaluate(store: &dyn Store, e: &Evaluation) -> Verdict {
    let stored = store
        .load_request(&e.subject.operator, &e.request_id)
        .await
        .unwrap();
    let digest = super::idempotency::request_digest(e);
    match super::idempotency::prior(&stored, &digest) {
        super::idempotency::Prior::Retry => return verdict_from_stored(&stored),
        super::idempotency::Prior::Conflict => panic!("request id reused: use evaluate_batch"),
        super::idempotency::Prior::Fresh => {}
    }
    let snap = store
        .load_snapshot(&EngineConfig::default(), e)
        .await
        .unwrap();
    let (verdict, delta) = engine::evaluate(&EngineConfig::default(), &snap, e);
    store.record(e, &verdict, &delta).await.unwrap();
    verdict
}

async fn campaign_state_is_per_operator(store: &dyn Store) {
    store.ping().await.unwrap();
    let v = evaluate(store, &eval("op1", "s1", "r1", 1_000, &[("nmap", T)])).await;
    assert_eq!(v.action, Action::Allow);
    let v = evaluate(
        store,
        &eval("op1", "s1", "r2", 2_000, &[("exploit_framework", T)]),
    )
    .await;
    assert!(v.action <= Action::Warn, "{v:?}");
    let v = evaluate(
        store,
        &eval("op1", "s1", "r3", 3_000, &[("data_export", T)]),
    )
    .await;
    assert_eq!(v.action, Action::Block, "{v:?}");
    let v = evaluate(
        store,
        &eval("op1", "s2", "r4", 4_000, &[("data_export", T)]),
    )
    .await;
    assert_eq!(v.action, Action::Block, "{v:?}");
    let v = evaluate(
        store,
        &eval("op2", "s1", "r5", 5_000, &[("data_export", T)]),
    )
    .await;
    assert_ne!(v.action, Action::Block, "{v:?}");

    let snap = store
        .load_snapshot(
            &EngineConfig::default(),
            &eval("op1", "s1", "q", 3_000, &[("nmap", T), ("nmap", "other")]),
        )
        .await
        .unwrap();
    let set = snap.targets[T].phases;
    assert_eq!(set.max(), Some(Phase::Exfiltration));
    assert_eq!(set.len(), 3);
    assert!(!snap.targets.contains_key("other"));
    assert_eq!(snap.session.phases.max(), Some(Phase::Exfiltration));
    assert_eq!(snap.session.recent.len(), 3);
    assert_eq!(snap.session.recent[0].tool, "nmap");
    assert_eq!(snap.operator.phases.max(), Some(Phase::Exfiltration));
    assert_eq!(snap.operator.budgets_used["scans"], 1);
    assert_eq!(snap.operator.budgets_used["exfiltration"], 2);
    assert!(snap.session.latent_log > -1.0e8);

    let s1 = store.session("op1", "s1").await.unwrap().unwrap();
    assert_eq!(s1.event_count, 3);
    assert_eq!((s1.first_seen_ms, s1.last_seen_ms), (1_000, 3_000));
    assert_eq!(s1.max_phase, Some(Phase::Exfiltration));
    assert_eq!(s1.tenant, "acme");
    assert!(store.session("op1", "nope").await.unwrap().is_none());
}

async fn retry_is_not_counted_twice(store: &dyn Store) {
    let e = eval(
        "op1",
        "s1",
        "r1",
        1_000,
        &[("nmap", T), ("get_weather", ""), ("ssh_connect", T)],
    );
    let first = evaluate(store, &e).await;
    // a retry answers the stored verdict
    let again = evaluate(store, &e).await;
    assert_eq!(again.action, first.action);
    assert_eq!(again.events.len(), 3);
    assert_eq!(again.events[2].action, first.events[2].action);
    assert_eq!(again.events[2].reasons, first.events[2].reasons);
    assert_eq!(again.approval_id, first.approval_id);
    // recording the same evaluation twice (racing replicas) stores the events once
    let snap = store
        .load_snapshot(&EngineConfig::default(), &e)
        .await
        .unwrap();
    let (v, d) = engine::evaluate(&EngineConfig::default(), &snap, &e);
    let outcome = store.record(&e, &v, &d).await.unwrap();
    assert_eq!(outcome.inserted, 0);
    let s = store.session("op1", "s1").await.unwrap().unwrap();
    assert_eq!(s.event_count, 3);
    let stored = store.load_request("op1", "r1").await.unwrap();
    assert_eq!(
        stored
            .iter()
            .map(|e| e.call_id.as_str())
            .collect::<Vec<_>>(),
        ["c0", "c1", "c2"]
    );
    assert_eq!(stored[1].phase, None);
    assert_eq!(stored[0].targets, vec![T.to_string()]);
}

async fn approvals_are_stored_pending(store: &dyn Store) {
    evaluate(store, &eval("op1", "s1", "r1", 1_000, &[("nmap", T)])).await;
    // lateral after recon: 0.40 + 0.05 = 0.45 → require approval
    let v = evaluate(
        store,
        &eval("op1", "s1", "r2", 2_000, &[("ssh_connect", T)]),
    )
    .await;
    assert_eq!(v.action, Action::RequireApproval, "{v:?}");
    let approvals = store.approvals("op1").await.unwrap();
    assert_eq!(approvals.len(), 1);
    assert_eq!(Some(&approvals[0].id), v.approval_id.as_ref());
    assert_eq!(approvals[0].status, "pending");
    assert_eq!(approvals[0].tool, "ssh_connect");
    assert_eq!(approvals[0].created_at_ms, 2_000);
    assert!(store.approvals("op2").await.unwrap().is_empty());
}

async fn approved_call_passes_once(store: &dyn Store) {
    evaluate(store, &eval("op1", "s1", "r1", 1_000, &[("exploit", T)])).await;
    let call = eval("op1", "s1", "r2", 2_000, &[("ssh_connect", T)]);
    let v = evaluate(store, &call).await;
    assert_eq!(v.action, Action::RequireApproval, "{v:?}");
    let id = v.approval_id.clone().unwrap();
    let a = &store.approvals("op1").await.unwrap()[0];
    assert_eq!(a.expires_at_ms, 2_000 + 3_600_000);
    assert_eq!(a.policy_version, "default|");
    // not approved yet: the same call in a new request still needs approval
    let again = evaluate(
        store,
        &eval("op1", "s1", "r3", 3_000, &[("ssh_connect", T)]),
    )
    .await;
    assert_eq!(again.action, Action::RequireApproval);
    assert!(store.approve(&id, 3_500).await.unwrap());
    assert!(
        !store.approve(&id, 3_600).await.unwrap(),
        "approve is single shot"
    );
    // approved: the same call (same digest) passes once …
    let ok = evaluate(
        store,
        &eval("op1", "s1", "r4", 4_000, &[("ssh_connect", T)]),
    )
    .await;
    assert_eq!(ok.action, Action::Allow, "{ok:?}");
    assert!(ok.reasons.iter().any(|r| r.contains(&id)), "{ok:?}");
    // … and only once
    let twice = evaluate(
        store,
        &eval("op1", "s1", "r5", 5_000, &[("ssh_connect", T)]),
    )
    .await;
    assert_eq!(twice.action, Action::RequireApproval, "{twice:?}");
    let statuses: Vec<String> = store
        .approvals("op1")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(statuses[0], "consumed");
    assert!(!store.deny("nope", 1).await.unwrap());
    let g = store.campaign_graph("op1").await.unwrap();
    assert_eq!(g.nodes.len(), 1);
    assert_eq!(g.nodes[0].max_phase, Some("lateral"));
    assert_eq!(g.fan_out, 1);
}

async fn phase_updates_are_monotonic_and_concurrent(store: Arc<dyn Store>) {
    // many concurrent writers on one target, each adding one phase: none may be lost
    let mut handles = Vec::new();
    for (i, tool) in ["nmap", "exploit", "kerberos", "db_query", "upload"]
        .into_iter()
        .enumerate()
    {
        for k in 0..4 {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                let e = eval(
                    "op1",
                    &format!("s{k}"),
                    &format!("r{i}-{k}"),
                    1_000,
                    &[(tool, T)],
                );
                let (v, d) = engine::evaluate(&EngineConfig::default(), &Default::default(), &e);
                store.record(&e, &v, &d).await.unwrap();
            }));
        }
    }
    for h in handles {
        h.await.unwrap();
    }
    let snap = store
        .load_snapshot(
            &EngineConfig::default(),
            &eval("op1", "s0", "q", 1_000, &[("nmap", T)]),
        )
        .await
        .unwrap();
    assert_eq!(snap.targets[T].phases, PhaseSet::from_mask(0b11_1110));
    // 20 events, one per budget each: counted exactly once, none lost
    assert_eq!(snap.operator.budgets_used["scans"], 4);
    assert_eq!(snap.operator.budgets_used["exploitation"], 4);
    assert_eq!(snap.operator.budgets_used["exfiltration"], 4);
    assert_eq!(
        store
            .session("op1", "s0")
            .await
            .unwrap()
            .unwrap()
            .event_count,
        5
    );
    // an older, lower write does not lower the phase
    let e = eval("op1", "s0", "late", 10, &[("nmap", T)]);
    let (v, d) = engine::evaluate(&EngineConfig::default(), &Default::default(), &e);
    store.record(&e, &v, &d).await.unwrap();
    let s = store.session("op1", "s0").await.unwrap().unwrap();
    assert_eq!(s.max_phase, Some(Phase::Exfiltration));
    assert_eq!(s.first_seen_ms, 10);
}

macro_rules! contract_suite {
    ($backend:ident, $open:path) => {
        mod $backend {
            use super::*;

            #[tokio::test]
            async fn campaign_state_is_per_operator() {
                let (store, _guard) = $open().await;
                super::campaign_state_is_per_operator(store.as_ref()).await;
            }

            #[tokio::test]
            async fn retry_is_not_counted_twice() {
                let (store, _guard) = $open().await;
                super::retry_is_not_counted_twice(store.as_ref()).await;
            }

            #[tokio::test]
            async fn approvals_are_stored_pending() {
                let (store, _guard) = $open().await;
                super::approvals_are_stored_pending(store.as_ref()).await;
            }

            #[tokio::test]
            async fn approved_call_passes_once() {
                let (store, _guard) = $open().await;
                super::approved_call_passes_once(store.as_ref()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn phase_updates_are_monotonic_and_concurrent() {
                let (store, _guard) = $open().await;
                super::phase_updates_are_monotonic_and_concurrent(store.clone()).await;
            }

            #[tokio::test]
            async fn operators_sessions_and_budgets_are_listed() {
                let (store, _guard) = $open().await;
                super::admin::operators_sessions_and_budgets_are_listed(store.as_ref()).await;
            }

            #[tokio::test]
            async fn dashboard_queries_search_and_count() {
                let (store, _guard) = $open().await;
                super::admin::dashboard_queries_search_and_count(store.as_ref()).await;
            }

            #[tokio::test]
            async fn decisions_are_recorded_and_audited() {
                let (store, _guard) = $open().await;
                super::admin::decisions_are_recorded_and_audited(store.as_ref()).await;
            }

            #[tokio::test]
            async fn reset_forgets_the_operator_and_is_audited() {
                let (store, _guard) = $open().await;
                super::admin::reset_forgets_the_operator_and_is_audited(store.as_ref()).await;
            }

            #[tokio::test]
            async fn batch_equals_sequential() {
                let (sequential, _g1) = $open().await;
                let (batched, _g2) = $open().await;
                super::batch::batch_equals_sequential(sequential.as_ref(), batched.as_ref()).await;
            }

            #[tokio::test]
            async fn approval_is_consumed_once_in_a_batch() {
                let (store, _guard) = $open().await;
                super::batch::approval_is_consumed_once_in_a_batch(store.as_ref()).await;
            }

            #[tokio::test]
            async fn failed_batch_writes_nothing() {
                let (store, guard) = $open().await;
                super::batch::failed_batch_writes_nothing(store.as_ref(), &guard).await;
            }

            #[tokio::test]
            async fn reused_request_id_is_refused_and_recorded() {
                let (store, _guard) = $open().await;
                super::idempotency::reused_request_id_is_refused_and_recorded(store.as_ref()).await;
            }

            #[tokio::test]
            async fn reuse_inside_one_batch() {
                let (store, _guard) = $open().await;
                super::idempotency::reuse_inside_one_batch(store.as_ref()).await;
            }

            #[tokio::test]
            async fn prune_keeps_summaries() {
                let (store, _guard) = $open().await;
                super::admin::prune_keeps_summaries(store.as_ref()).await;
            }
        }
    };
}

/// Keeps the temp dir alive / drops the Postgres database at the end of a test.
pub(crate) enum Guard {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, name: String },
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Guard::Postgres { admin_url, name } = self {
            let (admin_url, name) = (admin_url.clone(), name.clone());
            // drop runs inside the test's runtime: clean up on a separate thread + runtime, with a
            // fresh connection (the pool's connections belong to the test runtime); FORCE ends them
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    let mut conn = PgConnection::connect(&admin_url).await.unwrap();
                    // name is generated here (alphanumeric), never user input
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut conn)
                        .await
                        .unwrap();
                });
            })
            .join();
        }
    }
}

pub(crate) async fn open_sqlite() -> (Arc<dyn Store>, Guard) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let store = SqliteStore::open(&url).await.unwrap();
    (Arc::new(store), Guard::Sqlite(dir))
}

fn unique_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!(
        "llmfw_test_{}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub(crate) async fn open_postgres() -> (Arc<dyn Store>, Guard) {
    let admin_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let mut conn = match PgConnection::connect(&admin_url).await {
        Ok(c) => c,
        Err(e) if std::env::var("LLMFW_SKIP_PG").as_deref() == Ok("1") => {
            eprintln!("postgres unreachable (LLMFW_SKIP_PG=1): running this test on sqlite: {e}");
            return open_sqlite().await;
        }
        Err(e) => panic!("postgres unreachable at {admin_url} (set LLMFW_SKIP_PG=1 to skip): {e}"),
    };
    let name = unique_name();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let options = PgConnectOptions::from_str(&admin_url)
        .unwrap()
        .database(&name);
    let store = Arc::new(PostgresStore::open_with(options).await.unwrap());
    (store, Guard::Postgres { admin_url, name })
}

contract_suite!(sqlite, open_sqlite);
contract_suite!(postgres, open_postgres);
