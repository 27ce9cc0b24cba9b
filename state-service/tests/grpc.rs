//! In-process gRPC test: a real server on 127.0.0.1:0 over a temp SQLite file, the tonic client,
//! the campaign from the acceptance scenario, and the "Phoenix" property (a restart on the same
//! file keeps the block).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;

use llmfw_api::v1;
use llmfw_state::server::ServeOptions;
use llmfw_state::store::{SqliteStore, Store};

mod common;

use common::Server;

async fn start(db_url: &str) -> Server {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(db_url).await.unwrap());
    common::serve(store, ServeOptions::default()).await
}

fn req(
    operator: &str,
    session: &str,
    request_id: &str,
    tool: &str,
    target: &str,
) -> v1::EvaluateRequest {
    common::evaluate_request(
        operator,
        session,
        request_id,
        tool,
        target,
        1_700_000_000_000,
    )
}

const T: &str = "corp-a.example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn campaign_is_blocked_and_the_block_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());

    let srv = start(&url).await;
    let mut c = srv.client().await;
    let r = c
        .evaluate(req("op1", "s1", "r1", "nmap", T))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.action, v1::Action::Allow as i32);
    assert_eq!(r.max_phase, v1::Phase::Recon as i32);
    let r = c
        .evaluate(req("op1", "s1", "r2", "exploit_framework", T))
        .await
        .unwrap()
        .into_inner();
    assert!(r.action <= v1::Action::Warn as i32, "{r:?}");
    let r = c
        .evaluate(req("op1", "s1", "r3", "data_export", T))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.action, v1::Action::Block as i32, "{r:?}");
    assert_eq!(r.verdicts.len(), 1);
    assert_eq!(r.verdicts[0].call_id, "call-1");
    assert!(
        r.reasons
            .iter()
            .any(|s| s.contains("kill chain on corp-a.example.com")),
        "{r:?}"
    );
    let exfil = r
        .budgets
        .iter()
        .find(|b| b.category == "exfiltration")
        .expect("exfiltration budget reported");
    assert_eq!((exfil.used, exfil.limit), (1, 5));

    // a retry of r1 answers the stored verdict (allow), not a re-evaluation
    let r = c
        .evaluate(req("op1", "s1", "r1", "nmap", T))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.action, v1::Action::Allow as i32);

    // benign tool, empty events, missing operator
    let r = c
        .evaluate(req("op1", "s3", "r4", "get_weather", "berlin"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (r.action, r.max_phase),
        (v1::Action::Allow as i32, v1::Phase::Unknown as i32)
    );
    let mut empty = req("op1", "s1", "r5", "nmap", T);
    empty.events.clear();
    let r = c.evaluate(empty).await.unwrap().into_inner();
    assert_eq!(r.action, v1::Action::Allow as i32);
    let mut anon = req("", "s1", "r6", "nmap", T);
    anon.subject.as_mut().unwrap().operator.clear();
    let err = c.evaluate(anon).await.unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);

    // health and admin endpoints
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", srv.grpc))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let h = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: llmfw_api::SERVICE_NAME.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    let http = reqwest::Client::new();
    let get = |path: &str| http.get(format!("http://{}{path}", srv.admin)).send();
    let healthz = get("/healthz").await.unwrap();
    assert_eq!(healthz.status(), 200);
    assert_eq!(healthz.text().await.unwrap(), "ok");
    assert_eq!(get("/readyz").await.unwrap().status(), 200);
    let metrics = get("/metrics").await.unwrap().text().await.unwrap();
    assert!(
        metrics.contains("llmfw_state_evaluations_total 6\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("llmfw_state_actions_total{action=\"block\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("llmfw_state_evaluate_seconds_count 7\n"),
        "{metrics}"
    );
    drop(c);
    drop(health);
    srv.stop().await;

    // Phoenix: a new process on the same file remembers the campaign, in a new session
    let srv = start(&url).await;
    let mut c = srv.client().await;
    let r = c
        .evaluate(req("op1", "s2", "r10", "data_export", T))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.action, v1::Action::Block as i32, "{r:?}");
    assert_eq!(r.max_phase, v1::Phase::Exfiltration as i32);
    // another operator alone on a fresh target is not blocked
    let r = c
        .evaluate(req("op2", "s1", "r11", "data_export", "fresh.example.org"))
        .await
        .unwrap()
        .into_inner();
    assert_ne!(r.action, v1::Action::Block as i32, "{r:?}");
    drop(c);
    srv.stop().await;
}

/// Issue 16: a request id reused for another call gets no stored verdict: the new call is
/// judged, refused with a defined reason, recorded, and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reused_request_id_is_refused_over_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("state.db").display());
    let srv = start(&url).await;
    let mut c = srv.client().await;
    let allowed = c
        .evaluate(req("op1", "s1", "r1", "get_weather", "berlin"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(allowed.action, v1::Action::Allow as i32, "{allowed:?}");
    // a real retry: the stored verdict
    let retry = c
        .evaluate(req("op1", "s1", "r1", "get_weather", "berlin"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(retry.action, v1::Action::Allow as i32);
    // the same id with another call: BLOCK with the reason, per event too
    let reused = c
        .evaluate(req("op1", "s1", "r1", "data_export", T))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reused.action, v1::Action::Block as i32, "{reused:?}");
    assert_eq!(
        reused.reasons[0],
        llmfw_state::store::idempotency::REASON_REQUEST_ID_REUSED
    );
    assert_eq!(reused.verdicts.len(), 1);
    assert_eq!(reused.verdicts[0].action, v1::Action::Block as i32);
    assert!(reused.approval_id.is_empty());
    // another operator may use the id
    let other = c
        .evaluate(req("op2", "s1", "r1", "get_weather", "berlin"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(other.action, v1::Action::Allow as i32, "{other:?}");
    let metrics = reqwest::get(format!("http://{}/metrics", srv.admin))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("llmfw_state_request_id_conflicts_total 1\n"),
        "{metrics}"
    );
    drop(c);
    srv.stop().await;
}
