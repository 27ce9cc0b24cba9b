//! Contract cases of the admin and retention methods (run on both backends by
//! `contract_suite!`).

use super::{eval, evaluate, T};
use crate::engine::{Action, EngineConfig, Phase};
use crate::store::{Actor, DecideOutcome, Decision, Page, SessionFilter, Store};

const PAGE: Page = Page {
    limit: 100,
    offset: 0,
};

fn sessions_of<'a>(operator: &'a str) -> SessionFilter<'a> {
    SessionFilter {
        operator: Some(operator),
        session: None,
    }
}

pub(super) async fn operators_sessions_and_budgets_are_listed(store: &dyn Store) {
    assert!(store.operators(None, PAGE).await.unwrap().is_empty());
    assert!(store.operator("op1").await.unwrap().is_none());
    evaluate(store, &eval("op1", "s1", "r1", 1_000, &[("nmap", T)])).await;
    evaluate(store, &eval("op1", "s2", "r2", 5_000, &[("exploit", T)])).await;
    evaluate(
        store,
        &eval("op2", "s1", "r3", 3_000, &[("nmap", "b.example")]),
    )
    .await;

    let ops = store.operators(None, PAGE).await.unwrap();
    let names: Vec<&str> = ops.iter().map(|o| o.operator.as_str()).collect();
    assert_eq!(names, ["op1", "op2"], "most recently seen first");
    let op1 = &ops[0];
    assert_eq!(op1.phases.max(), Some(Phase::Exploit));
    assert_eq!((op1.sessions, op1.events), (2, 2));
    assert_eq!((op1.first_seen_ms, op1.last_seen_ms), (1_000, 5_000));
    assert!(op1.latent_log > -1.0e8);
    let page2 = Page {
        limit: 1,
        offset: 1,
    };
    let names: Vec<String> = store
        .operators(None, page2)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.operator)
        .collect();
    assert_eq!(names, ["op2"]);
    assert_eq!(store.operator("op1").await.unwrap().as_ref(), Some(op1));

    let cfg = EngineConfig::default();
    let budgets = store.budget_use(&cfg, "op1", 5_000).await.unwrap();
    let used = |name: &str| budgets.iter().find(|b| b.name == name).unwrap().used;
    assert_eq!(
        (used("scans"), used("exploitation"), used("lateral")),
        (1, 1, 0)
    );
    assert_eq!(budgets.len(), cfg.budgets.len());
    // a window ending long after sees nothing
    let later = store
        .budget_use(&cfg, "op1", 10 * 86_400_000)
        .await
        .unwrap();
    assert!(later.iter().all(|b| b.used == 0), "{later:?}");

    let s = store.sessions(sessions_of("op1"), PAGE).await.unwrap();
    let ids: Vec<&str> = s.iter().map(|s| s.session.as_str()).collect();
    assert_eq!(ids, ["s2", "s1"]);
    assert_eq!(s[0].operator, "op1");
    let all = store
        .sessions(SessionFilter::default(), PAGE)
        .await
        .unwrap();
    assert_eq!(all.len(), 3);
    let by_id = SessionFilter {
        operator: None,
        session: Some("s1"),
    };
    assert_eq!(store.sessions(by_id, PAGE).await.unwrap().len(), 2);

    let events = store.session_events("op1", "s1", 50).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].tool, "nmap");
    assert_eq!(events[0].targets, vec![T.to_string()]);
    assert_eq!(events[0].phase, 1);
    assert_eq!(events[0].action, "allow");
    assert_eq!(
        (events[0].request_id.as_str(), events[0].observed_at_ms),
        ("r1", 1_000)
    );
    assert_eq!(events[0].session, "s1");
    assert_eq!(
        events[0].args_digest.len(),
        64,
        "{:?}",
        events[0].args_digest
    );
}

pub(super) async fn dashboard_queries_search_and_count(store: &dyn Store) {
    evaluate(store, &eval("Team-A_1", "s1", "r1", 1_000, &[("nmap", T)])).await;
    evaluate(
        store,
        &eval("team-b", "s2", "r2", 61_000, &[("exploit", T)]),
    )
    .await;
    evaluate(
        store,
        &eval("team-b", "s3", "r3", 62_000, &[("nmap", "b.example")]),
    )
    .await;
    evaluate(store, &eval("other%", "s1", "r4", 125_000, &[("nmap", T)])).await;

    let names = |rows: Vec<crate::store::OperatorRow>| -> Vec<String> {
        rows.into_iter().map(|o| o.operator).collect()
    };
    let found = names(store.operators(Some("TEAM"), PAGE).await.unwrap());
    assert_eq!(
        found,
        ["team-b", "Team-A_1"],
        "case-insensitive, newest first"
    );
    let found = names(store.operators(Some("a_"), PAGE).await.unwrap());
    assert_eq!(found, ["Team-A_1"], "`_` is literal, not a wildcard");
    let found = names(store.operators(Some("%"), PAGE).await.unwrap());
    assert_eq!(found, ["other%"], "`%` is literal");
    assert!(store
        .operators(Some("nobody"), PAGE)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.operators(None, PAGE).await.unwrap().len(), 3);

    let events = store.operator_events("team-b", 10).await.unwrap();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.session.as_str(), e.tool.as_str()))
        .collect();
    assert_eq!(
        seen,
        [("s3", "nmap"), ("s2", "exploit")],
        "across sessions, newest first"
    );
    assert_eq!(store.operator_events("team-b", 1).await.unwrap().len(), 1);
    assert!(store
        .operator_events("nobody", 10)
        .await
        .unwrap()
        .is_empty());

    // buckets of 60 s from t = 0: [0, 60 s) has 1, [60 s, 120 s) has 2; 125 s is past `until`
    let counts = store.action_counts(0, 120_000, 60_000).await.unwrap();
    let total: i64 = counts.iter().map(|c| c.count).sum();
    assert_eq!(total, 3, "{counts:?}");
    let in_bucket = |b: i64| -> i64 {
        counts
            .iter()
            .filter(|c| c.bucket_ms == b)
            .map(|c| c.count)
            .sum()
    };
    assert_eq!((in_bucket(0), in_bucket(60_000)), (1, 2), "{counts:?}");
    assert!(
        counts
            .iter()
            .all(|c| c.action == "allow" || c.action == "warn"),
        "{counts:?}"
    );
    assert!(store
        .action_counts(200_000, 300_000, 60_000)
        .await
        .unwrap()
        .is_empty());
}

pub(super) async fn decisions_are_recorded_and_audited(store: &dyn Store) {
    evaluate(store, &eval("op1", "s1", "r1", 1_000, &[("nmap", T)])).await;
    let v = evaluate(
        store,
        &eval("op1", "s1", "r2", 2_000, &[("ssh_connect", T)]),
    )
    .await;
    assert_eq!(v.action, Action::RequireApproval, "{v:?}");
    let id = v.approval_id.clone().unwrap();

    let pending = store
        .list_approvals(Some("pending"), None, PAGE)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    let a = &pending[0];
    assert_eq!((a.id.as_str(), a.operator.as_str()), (id.as_str(), "op1"));
    assert_eq!((a.request_id.as_str(), a.call_id.as_str()), ("r2", "c0"));
    assert_eq!((a.decided_at_ms, a.decided_by.as_deref()), (None, None));
    assert!(store
        .list_approvals(Some("approved"), None, PAGE)
        .await
        .unwrap()
        .is_empty());
    assert!(store
        .list_approvals(None, Some("op2"), PAGE)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(store.approval(&id).await.unwrap().as_ref(), Some(a));
    assert!(store.approval("nope").await.unwrap().is_none());

    let decision = Decision {
        approve: true,
        by: "alice".into(),
        note: Some("pentest ticket 42".into()),
        at_ms: 9_000,
    };
    let DecideOutcome::Decided(a) = store.decide(&id, &decision).await.unwrap() else {
        panic!("not decided");
    };
    assert_eq!(a.status, "approved");
    assert_eq!(a.decided_by.as_deref(), Some("alice"));
    assert_eq!(a.note.as_deref(), Some("pentest ticket 42"));
    assert_eq!(a.decided_at_ms, Some(9_000));
    let deny = Decision::new(false, "bob", 9_500);
    match store.decide(&id, &deny).await.unwrap() {
        DecideOutcome::NotPending(a) => assert_eq!(a.status, "approved"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.decide("nope", &deny).await.unwrap(),
        DecideOutcome::Unknown
    );
    let approved = store
        .list_approvals(Some("approved"), Some("op1"), PAGE)
        .await;
    assert_eq!(approved.unwrap().len(), 1);

    let log = store.audit_log(None, PAGE).await.unwrap();
    assert_eq!(log.len(), 1, "only the decision that changed something");
    assert_eq!(
        (
            log[0].action.as_str(),
            log[0].actor.as_str(),
            log[0].subject.as_str()
        ),
        ("approve", "alice", id.as_str())
    );
    assert_eq!((log[0].operator.as_str(), log[0].at_ms), ("op1", 9_000));
    assert_eq!(log[0].note.as_deref(), Some("pentest ticket 42"));
    let detail: serde_json::Value = serde_json::from_str(&log[0].detail).unwrap();
    assert_eq!(detail["status"], "approved");
    assert!(store.audit_log(Some("op2"), PAGE).await.unwrap().is_empty());
}

pub(super) async fn reset_forgets_the_operator_and_is_audited(store: &dyn Store) {
    evaluate(store, &eval("op1", "s1", "r1", 1_000, &[("nmap", T)])).await;
    evaluate(store, &eval("op1", "s1", "r2", 2_000, &[("exploit", T)])).await;
    let v = evaluate(
        store,
        &eval("op1", "s2", "r3", 3_000, &[("data_export", T)]),
    )
    .await;
    assert_eq!(v.action, Action::Block);
    evaluate(store, &eval("op2", "s1", "r4", 3_000, &[("nmap", T)])).await;

    let actor = Actor {
        by: "carol".into(),
        note: Some("lab rebuilt".into()),
        at_ms: 7_000,
    };
    let out = store.reset_operator("op1", &actor).await.unwrap();
    assert!(out.existed());
    assert_eq!(
        (out.events, out.sessions, out.targets, out.operators),
        (3, 2, 1, 1)
    );
    assert!(out.budget_counters >= 2, "{out:?}");
    assert!(store.operator("op1").await.unwrap().is_none());
    assert!(store.session("op1", "s1").await.unwrap().is_none());
    assert!(store.campaign_graph("op1").await.unwrap().nodes.is_empty());
    let cfg = EngineConfig::default();
    let budgets = store.budget_use(&cfg, "op1", 3_000).await.unwrap();
    assert!(budgets.iter().all(|b| b.used == 0));
    // the same exfiltration is no longer a kill chain; op2 is untouched
    let v = evaluate(
        store,
        &eval("op1", "s3", "r5", 8_000, &[("data_export", T)]),
    )
    .await;
    assert_ne!(v.action, Action::Block, "{v:?}");
    assert!(store.operator("op2").await.unwrap().is_some());

    let log = store.audit_log(Some("op1"), PAGE).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(
        (log[0].action.as_str(), log[0].actor.as_str()),
        ("reset_operator", "carol")
    );
    let detail: serde_json::Value = serde_json::from_str(&log[0].detail).unwrap();
    assert_eq!(detail["events"], 3);
    // nothing to reset: no audit entry
    assert!(!store
        .reset_operator("ghost", &actor)
        .await
        .unwrap()
        .existed());
    assert_eq!(store.audit_log(None, PAGE).await.unwrap().len(), 1);
}

pub(super) async fn prune_keeps_summaries(store: &dyn Store) {
    evaluate(store, &eval("op1", "s1", "r1", 1_000, &[("nmap", T)])).await;
    evaluate(store, &eval("op1", "s1", "r2", 2_000, &[("exploit", T)])).await;
    evaluate(
        store,
        &eval("op1", "s1", "r3", 9_000, &[("ssh_connect", T)]),
    )
    .await;

    let out = store.prune(5_000, 0).await.unwrap();
    assert_eq!(out.events, 2);
    assert_eq!(store.prune(5_000, 0).await.unwrap().events, 0);
    let events = store.session_events("op1", "s1", 50).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].request_id, "r3");
    assert!(store.load_request("op1", "r1").await.unwrap().is_empty());

    // summaries stay: phase high-water marks, counters, graph, approvals
    let s = store.session("op1", "s1").await.unwrap().unwrap();
    assert_eq!(s.max_phase, Some(Phase::Lateral));
    assert_eq!(s.event_count, 3);
    let op = store.operator("op1").await.unwrap().unwrap();
    assert_eq!(op.phases.max(), Some(Phase::Lateral));
    assert_eq!(op.events, 3);
    let g = store.campaign_graph("op1").await.unwrap();
    assert_eq!(g.nodes[0].phases, ["recon", "exploit", "lateral"]);
    assert_eq!(store.approvals("op1").await.unwrap().len(), 1);

    // budget counters go only before their own cut-off
    let cfg = EngineConfig::default();
    let used = store.budget_use(&cfg, "op1", 9_000).await.unwrap();
    assert_eq!(used.iter().map(|b| b.used).sum::<u32>(), 3);
    let out = store.prune(5_000, 100 * 86_400_000).await.unwrap();
    assert!(out.budget_counters >= 1, "{out:?}");
    let used = store.budget_use(&cfg, "op1", 9_000).await.unwrap();
    assert_eq!(used.iter().map(|b| b.used).sum::<u32>(), 0);
}
