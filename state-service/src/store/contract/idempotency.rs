//! Contract cases of request-id idempotency (`store::idempotency`), run on both backends by
//! `contract_suite!` through the production path ([`Store::evaluate_batch`]): the same request
//! again is a retry; the same id with other calls, another tenant or another session is refused
//! and recorded under the derived id; another operator's ids are its own.

use super::{eval, T};
use crate::engine::{Action, EngineConfig, Evaluation};
use crate::store::idempotency::{conflict_id, request_digest, REASON_REQUEST_ID_REUSED};
use crate::store::{Evaluated, Store};

async fn run(store: &dyn Store, e: &Evaluation) -> Evaluated {
    let mut got = store
        .evaluate_batch(&EngineConfig::default(), std::slice::from_ref(e))
        .await
        .unwrap();
    assert_eq!(got.len(), 1);
    got.remove(0)
}

pub(super) async fn reused_request_id_is_refused_and_recorded(store: &dyn Store) {
    let allowed = eval("op1", "s1", "r1", 1_000, &[("get_weather", "")]);
    let got = run(store, &allowed).await;
    assert_eq!(got.verdict.action, Action::Allow, "{got:?}");
    assert!(!got.retried && !got.conflict && got.inserted == 1);

    // the same request again (a retry): the stored verdict, nothing written
    let again = run(
        store,
        &eval("op1", "s1", "r1", 1_500, &[("get_weather", "")]),
    )
    .await;
    assert!(
        again.retried && !again.conflict && again.inserted == 0,
        "{again:?}"
    );
    assert_eq!(again.verdict.action, Action::Allow);

    // the same id with a harmful call: judged, refused, recorded under the derived id
    let harmful = eval("op1", "s1", "r1", 2_000, &[("data_export", T)]);
    let got = run(store, &harmful).await;
    assert!(got.conflict && !got.retried && got.inserted == 1, "{got:?}");
    assert_eq!(got.verdict.action, Action::Block);
    assert_eq!(got.verdict.reasons[0], REASON_REQUEST_ID_REUSED);
    assert_eq!(got.verdict.events[0].reasons[0], REASON_REQUEST_ID_REUSED);
    let derived = conflict_id("r1", &request_digest(&harmful));
    let stored = store.load_request("op1", &derived).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].tool, "data_export");
    assert_eq!(stored[0].action, Action::Block);
    assert_eq!(stored[0].request_digest, request_digest(&harmful));
    // the first request's events are untouched
    let first = store.load_request("op1", "r1").await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].tool, "get_weather");
    assert_eq!(first[0].action, Action::Allow);
    // counted and shown like any other event
    let session = store.session("op1", "s1").await.unwrap().unwrap();
    assert_eq!(session.event_count, 2);
    let timeline = store.session_events("op1", "s1", 10).await.unwrap();
    assert!(
        timeline
            .iter()
            .any(|e| e.tool == "data_export" && e.request_id == derived),
        "{timeline:?}"
    );

    // the conflicting request retried: its refused verdict again, nothing written
    let got = run(store, &harmful).await;
    assert!(got.conflict && got.retried && got.inserted == 0, "{got:?}");
    assert_eq!(got.verdict.action, Action::Block);

    // the id under another tenant or session is not the same request either
    for change in [
        |e: &mut Evaluation| e.subject.tenant = "other-tenant".into(),
        |e: &mut Evaluation| e.subject.session = "s9".into(),
    ] {
        let mut e = allowed.clone();
        change(&mut e);
        let got = run(store, &e).await;
        assert!(
            got.conflict && got.verdict.action == Action::Block,
            "{got:?}"
        );
    }

    // another operator's ids are its own
    let other = run(
        store,
        &eval("op2", "s1", "r1", 3_000, &[("get_weather", "")]),
    )
    .await;
    assert!(!other.conflict && !other.retried, "{other:?}");
    assert_eq!(other.verdict.action, Action::Allow);
}

/// Several reuses of one id in one group commit: each distinct request is refused once, the
/// repeat of one of them answers its stored verdict.
pub(super) async fn reuse_inside_one_batch(store: &dyn Store) {
    let evals = vec![
        eval("op1", "s1", "r1", 1_000, &[("get_weather", "")]),
        eval("op1", "s1", "r1", 1_100, &[("data_export", T)]),
        eval("op1", "s1", "r1", 1_200, &[("data_export", T)]),
        eval("op1", "s1", "r1", 1_300, &[("get_weather", "")]),
    ];
    let got = store
        .evaluate_batch(&EngineConfig::default(), &evals)
        .await
        .unwrap();
    let shape: Vec<(Action, bool, bool, u64)> = got
        .iter()
        .map(|g| (g.verdict.action, g.retried, g.conflict, g.inserted))
        .collect();
    assert_eq!(
        shape,
        vec![
            (Action::Allow, false, false, 1),
            (Action::Block, false, true, 1),
            (Action::Block, true, true, 0),
            (Action::Allow, true, false, 0),
        ]
    );
}
