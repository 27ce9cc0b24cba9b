//! Contract cases of group commit ([`Store::evaluate_batch`]), run on both backends by
//! `contract_suite!`: a batch gives exactly the verdicts and the stored state of the same
//! evaluations one after the other, and a failed batch writes nothing.

use std::str::FromStr;

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

use super::{eval, evaluate, Guard, T};
use crate::engine::{Action, EngineConfig, Evaluation};
use crate::store::{Page, SessionFilter, Store};

const PAGE: Page = Page {
    limit: 100,
    offset: 0,
};

/// Two operators, two sessions, a kill chain on one target, a pivot, an approval, a retry of an
/// earlier request inside the batch, and a request with two events.
fn campaign() -> Vec<Evaluation> {
    vec![
        eval("op1", "s1", "r1", 1_000, &[("nmap", T)]),
        eval("op2", "s1", "r2", 1_100, &[("nmap", "b.example")]),
        eval("op1", "s1", "r3", 2_000, &[("exploit_framework", T)]),
        eval("op1", "s1", "r4", 2_500, &[("ssh_connect", "c.example")]),
        eval("op1", "s1", "r3", 2_000, &[("exploit_framework", T)]),
        eval(
            "op1",
            "s1",
            "r5",
            3_000,
            &[("data_export", T), ("nmap", "d.example")],
        ),
        eval("op1", "s2", "r6", 3_500, &[("data_export", T)]),
        eval("op2", "s1", "r7", 3_600, &[("exploit", "b.example")]),
    ]
}

/// Everything the admin API can read about the campaign's operators.
async fn state_of(store: &dyn Store, evals: &[Evaluation]) -> Vec<String> {
    let cfg = EngineConfig::default();
    let mut out = Vec::new();
    for op in ["op1", "op2"] {
        out.push(format!("{:?}", store.operator(op).await.unwrap()));
        let filter = SessionFilter {
            operator: Some(op),
            session: None,
        };
        out.push(format!("{:?}", store.sessions(filter, PAGE).await.unwrap()));
        out.push(format!(
            "{:?}",
            store.budget_use(&cfg, op, 4_000).await.unwrap()
        ));
        out.push(format!("{:?}", store.campaign_graph(op).await.unwrap()));
        out.push(format!("{:?}", store.approvals(op).await.unwrap()));
        for s in ["s1", "s2"] {
            out.push(format!(
                "{:?}",
                store.session_events(op, s, 100).await.unwrap()
            ));
        }
    }
    for e in evals {
        out.push(format!(
            "{:?}",
            store
                .load_request(&e.subject.operator, &e.request_id)
                .await
                .unwrap()
        ));
    }
    out
}

pub(super) async fn batch_equals_sequential(sequential: &dyn Store, batched: &dyn Store) {
    let evals = campaign();
    let mut want = Vec::new();
    for e in &evals {
        want.push(evaluate(sequential, e).await);
    }
    let got = batched
        .evaluate_batch(&EngineConfig::default(), &evals)
        .await
        .unwrap();
    let verdicts: Vec<_> = got.iter().map(|g| g.verdict.clone()).collect();
    assert_eq!(verdicts, want);
    // the events of one operator saw each other inside the batch: recon, exploit, then the
    // export is the end of a kill chain (blocked)
    assert_eq!(got[5].verdict.action, Action::Block, "{:?}", got[5]);
    // the retry inside the batch answered the stored verdict and wrote nothing
    assert!(got[4].retried && got[4].inserted == 0);
    assert_eq!(got[4].verdict.events, got[2].verdict.events);
    let inserted: Vec<u64> = got.iter().map(|g| g.inserted).collect();
    assert_eq!(inserted, [1, 1, 1, 1, 0, 2, 1, 1]);
    assert_eq!(
        state_of(batched, &evals).await,
        state_of(sequential, &evals).await
    );
    // the same batch again: every request is a retry, nothing counts twice
    let again = batched
        .evaluate_batch(&EngineConfig::default(), &evals)
        .await
        .unwrap();
    assert!(again.iter().all(|g| g.retried && g.inserted == 0));
    assert_eq!(
        state_of(batched, &evals).await,
        state_of(sequential, &evals).await
    );
}

pub(super) async fn approval_is_consumed_once_in_a_batch(store: &dyn Store) {
    evaluate(store, &eval("op1", "s1", "r1", 1_000, &[("exploit", T)])).await;
    let v = evaluate(
        store,
        &eval("op1", "s1", "r2", 2_000, &[("ssh_connect", T)]),
    )
    .await;
    let id = v.approval_id.clone().unwrap();
    assert!(store.approve(&id, 2_500).await.unwrap());
    // two identical calls in one batch: the grant lets the first through, the second needs
    // approval again
    let got = store
        .evaluate_batch(
            &EngineConfig::default(),
            &[
                eval("op1", "s1", "r3", 3_000, &[("ssh_connect", T)]),
                eval("op1", "s1", "r4", 3_000, &[("ssh_connect", T)]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(got[0].verdict.action, Action::Allow, "{:?}", got[0]);
    assert_eq!(
        got[1].verdict.action,
        Action::RequireApproval,
        "{:?}",
        got[1]
    );
    let statuses: Vec<String> = store
        .approvals("op1")
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(statuses, ["consumed", "pending"]);
}

/// Makes every insert of an event with tool `boom` fail (a trigger), on the test's database.
async fn fail_on_boom(guard: &Guard) {
    match guard {
        Guard::Sqlite(dir) => {
            let url = format!("sqlite://{}", dir.path().join("state.db").display());
            let mut c = SqliteConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.tool = 'boom' \
                 BEGIN SELECT RAISE(ABORT, 'boom'); END",
            )
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
        Guard::Postgres { admin_url, name } => {
            let options = PgConnectOptions::from_str(admin_url)
                .unwrap()
                .database(name);
            let mut c = PgConnection::connect_with(&options).await.unwrap();
            sqlx::raw_sql(
                "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS \
                 $$ BEGIN RAISE EXCEPTION 'boom'; END $$; \
                 CREATE TRIGGER boom BEFORE INSERT ON events FOR EACH ROW \
                 WHEN (NEW.tool = 'boom') EXECUTE FUNCTION boom();",
            )
            .execute(&mut c)
            .await
            .unwrap();
            c.close().await.unwrap();
        }
    }
}

pub(super) async fn failed_batch_writes_nothing(store: &dyn Store, guard: &Guard) {
    fail_on_boom(guard).await;
    let ok = eval("op1", "s1", "r1", 1_000, &[("nmap", T)]);
    let boom = eval("op1", "s1", "r2", 2_000, &[("boom", T)]);
    let other = eval("op2", "s1", "r3", 2_000, &[("nmap", T)]);
    let batch = [ok.clone(), boom, other.clone()];
    let err = store
        .evaluate_batch(&EngineConfig::default(), &batch)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    // nothing of the batch is stored, not even the evaluations before the failing one
    for (op, req) in [("op1", "r1"), ("op1", "r2"), ("op2", "r3")] {
        assert!(store.load_request(op, req).await.unwrap().is_empty());
    }
    assert!(store.operator("op1").await.unwrap().is_none());
    assert!(store.session("op2", "s1").await.unwrap().is_none());
    // retried without the failing call, each counts once
    let got = store
        .evaluate_batch(&EngineConfig::default(), &[ok, other])
        .await
        .unwrap();
    assert!(got.iter().all(|g| !g.retried && g.inserted == 1));
    let s = store.session("op1", "s1").await.unwrap().unwrap();
    assert_eq!(s.event_count, 1);
    let b = store
        .budget_use(&EngineConfig::default(), "op2", 2_000)
        .await
        .unwrap();
    assert_eq!(
        b.iter().find(|b| b.name == "scans").map(|b| b.used),
        Some(1)
    );
}
