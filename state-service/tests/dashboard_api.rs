//! The dashboard's reads over HTTP against a real in-process server, on SQLite and PostgreSQL:
//! `GET /v1/overview`, operator search, `GET /v1/operators/{op}/events`, and the static
//! dashboard routes (public, with security headers; the data stays behind the token).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::Arc;

use llmfw_api::v1;
use llmfw_state::admin::AdminToken;
use llmfw_state::server::ServeOptions;
use llmfw_state::store::{PostgresStore, SqliteStore, Store};
use llmfw_testkit::pg::TestDb;
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "test-token-0123456789abcdef";
const T: &str = "corp-a.example.com";
const AT: i64 = 1_700_000_000_000;

async fn open(pg: bool) -> (Arc<dyn Store>, Option<TestDb>, Option<tempfile::TempDir>) {
    if pg {
        let db = TestDb::create("dashapi").await.unwrap();
        let store: Arc<dyn Store> = Arc::new(PostgresStore::open(&db.url).await.unwrap());
        (store, Some(db), None)
    } else {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&url).await.unwrap());
        (store, None, Some(dir))
    }
}

async fn get(http: &reqwest::Client, base: &str, path: &str) -> (StatusCode, Value) {
    let resp = http
        .get(format!("{base}{path}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn overview_timeline_and_search(pg: bool) {
    let (store, _db, _dir) = open(pg).await;
    let options = ServeOptions {
        admin_token: Some(AdminToken::new(TOKEN).unwrap()),
        ..ServeOptions::default()
    };
    let srv = common::serve(store, options).await;
    let mut c = srv.client().await;
    let calls = [
        ("op1", "s1", "r1", "nmap", T, 1),
        ("op1", "s1", "r2", "exploit_framework", T, 2),
        ("op1", "s2", "r3", "nmap", "db.corp-b.example.com", 3),
        ("other", "s9", "r4", "nmap", "x.example.org", 4),
    ];
    for (op, session, request, tool, target, second) in calls {
        let mut req =
            common::evaluate_request(op, session, request, tool, target, AT + second * 1000);
        // the filter's classification: the category is kept with the event
        let (category, phase) = match tool {
            "nmap" => ("recon", v1::Phase::Recon),
            _ => ("exploitation", v1::Phase::Exploit),
        };
        req.events[0].category = category.into();
        req.events[0].phase = phase as i32;
        c.evaluate(req).await.unwrap();
    }
    let http = reqwest::Client::new();
    let base = format!("http://{}", srv.admin);

    // the window ends at `at`: the four events fall in the last of 6 ten-minute buckets
    let at = AT + 10_000;
    let (status, ov) = get(
        &http,
        &base,
        &format!("/v1/overview?at={at}&window_s=3600&buckets=6"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{ov}");
    let series = ov["series"].as_array().unwrap();
    assert_eq!(series.len(), 6);
    let sum = |b: &Value| -> i64 {
        ["allow", "warn", "require_approval", "block"]
            .iter()
            .map(|a| b[a].as_i64().unwrap())
            .sum()
    };
    assert_eq!(
        series.iter().map(sum).collect::<Vec<_>>(),
        [0, 0, 0, 0, 0, 4],
        "{ov}"
    );
    let totals: i64 = ["allow", "warn", "require_approval", "block"]
        .iter()
        .map(|a| ov["totals"][a].as_i64().unwrap())
        .sum();
    assert_eq!(totals, 4);
    assert_eq!(ov["window"]["until_ms"], at);
    assert_eq!(ov["operators"], 2);
    assert_eq!(ov["open_approvals"], 0);
    let top = ov["top_operators"].as_array().unwrap();
    assert_eq!(
        top[0]["operator"], "op1",
        "the exploiting operator ranks first: {ov}"
    );
    assert!(top[0]["risk"]["current"].as_f64() > top[1]["risk"]["current"].as_f64());
    // a window before the events is empty
    let (_, early) = get(
        &http,
        &base,
        &format!("/v1/overview?at={AT}&window_s=60&buckets=1"),
    )
    .await;
    assert_eq!(early["series"][0]["allow"], 0, "{early}");
    for bad in ["window_s=10", "buckets=0", "buckets=201", "window_s=x"] {
        let (status, _) = get(&http, &base, &format!("/v1/overview?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }

    let (status, found) = get(&http, &base, "/v1/operators?q=OP").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = found["operators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["operator"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["op1"]);
    let (_, none) = get(&http, &base, "/v1/operators?q=zzz").await;
    assert!(none["operators"].as_array().unwrap().is_empty());

    let (status, tl) = get(&http, &base, "/v1/operators/op1/events?limit=10").await;
    assert_eq!(status, StatusCode::OK, "{tl}");
    let seen: Vec<(&str, &str)> = tl["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["session"].as_str().unwrap(), e["tool"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [("s2", "nmap"), ("s1", "exploit_framework"), ("s1", "nmap")],
        "both sessions, newest first"
    );
    assert_eq!(tl["events"][0]["args_digest"].as_str().unwrap().len(), 64);
    assert_eq!(tl["events"][1]["category"], "exploitation", "{tl}");
    assert_eq!(tl["events"][2]["category"], "recon", "{tl}");
    let (status, _) = get(&http, &base, "/v1/operators/nobody/events").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(&http, &base, "/v1/operators/op1/events?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // the dashboard's files are public and carry the security headers; the data is not
    let resp = http.get(format!("{base}/dashboard/")).send().await.unwrap();
    // 200 with the app when built by make (dashboard/dist embedded), else 503 naming the fix
    let status = resp.status().as_u16();
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    let body = resp.text().await.unwrap();
    match status {
        200 => assert!(body.contains("<div id=\"app\">"), "{body}"),
        503 => assert!(body.contains("make dashboard"), "{body}"),
        other => panic!("/dashboard/ answered {other}"),
    }
    let root = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(format!("{base}/"))
        .send()
        .await
        .unwrap();
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/dashboard/");
    let anon = http
        .get(format!("{base}/v1/overview"))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_timeline_and_search_on_sqlite() {
    overview_timeline_and_search(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_timeline_and_search_on_postgres() {
    overview_timeline_and_search(true).await;
}
