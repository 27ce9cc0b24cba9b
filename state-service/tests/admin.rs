//! The admin HTTP API driven over HTTP against a real in-process server (gRPC + admin), on SQLite
//! (temp file) and on PostgreSQL (a fresh database per test on `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::Server;

use std::sync::Arc;
use std::time::Duration;

use llmfw_api::v1;
use llmfw_state::admin::AdminToken;
use llmfw_state::server::ServeOptions;
use llmfw_state::store::{self, PostgresStore, SqliteStore, Store, StoreError};
use llmfw_testkit::pg::TestDb;
use reqwest::StatusCode;
use serde_json::{json, Value};

const TOKEN: &str = "test-token-0123456789abcdef";
const T: &str = "corp-a.example.com";
const AT: i64 = 1_700_000_000_000;

/// A database for one test: a temp SQLite file or a fresh PostgreSQL database from the harness
/// (`llmfw_testkit::pg::TestDb`, dropped at the end).
enum Db {
    Sqlite {
        url: String,
        _dir: tempfile::TempDir,
    },
    Postgres(TestDb),
}

impl Db {
    fn sqlite() -> Db {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        Db::Sqlite { url, _dir: dir }
    }

    async fn postgres() -> Db {
        Db::Postgres(TestDb::create("admin").await.unwrap())
    }

    fn url(&self) -> &str {
        match self {
            Db::Sqlite { url, .. } => url,
            Db::Postgres(db) => &db.url,
        }
    }

    async fn open(&self) -> Arc<dyn Store> {
        match self {
            Db::Sqlite { url, .. } => Arc::new(SqliteStore::open(url).await.unwrap()),
            Db::Postgres(db) => Arc::new(PostgresStore::open(&db.url).await.unwrap()),
        }
    }
}

struct Running {
    server: Server,
    http: reqwest::Client,
}

async fn start(db: &Db, options: ServeOptions) -> Running {
    Running {
        server: common::serve(db.open().await, options).await,
        http: reqwest::Client::new(),
    }
}

fn with_token() -> ServeOptions {
    ServeOptions {
        admin_token: Some(AdminToken::new(TOKEN).unwrap()),
        ..ServeOptions::default()
    }
}

impl Running {
    /// Evaluates one call of operator `op1` at `AT` + `second` s.
    async fn evaluate(
        &self,
        session: &str,
        request: &str,
        tool: &str,
        target: &str,
        second: i64,
    ) -> v1::EvaluateResponse {
        let mut c = self.server.client().await;
        let req =
            common::evaluate_request("op1", session, request, tool, target, AT + second * 1000);
        c.evaluate(req).await.unwrap().into_inner()
    }

    /// A request with the right token; returns status and JSON body.
    async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_as(method, path, body, Some(TOKEN)).await
    }

    async fn call_as(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> (StatusCode, Value) {
        let resp = self.raw(method, path, body, token).await;
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> reqwest::Response {
        let url = format!("http://{}{path}", self.server.admin);
        let mut req = match method {
            "get" => self.http.get(url),
            "post" => self.http.post(url),
            other => panic!("method {other}"),
        };
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.unwrap()
    }

    async fn stop(self) {
        self.server.stop().await;
    }
}

/// Every documented route (`{param}` filled with `x`) with its method.
async fn documented_routes(srv: &Running) -> Vec<(String, String)> {
    let (status, doc) = srv.call("get", "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete: Vec<String> = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "x".to_string()
                    } else {
                        s.to_string()
                    }
                })
                .collect();
            out.push((method.clone(), concrete.join("/")));
        }
    }
    out
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn every_route_refuses_no_token_and_a_wrong_token(db: Db) {
    let srv = start(&db, with_token()).await;
    let routes = documented_routes(&srv).await;
    assert!(routes.len() >= 12, "{routes:?}");
    for (method, path) in &routes {
        for token in [None, Some("wrong-token-0123456789abcdef"), Some("")] {
            let resp = srv.raw(method, path, None, token).await;
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {token:?}"
            );
            let challenge = resp.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            let body: Value = resp.json().await.unwrap();
            assert!(
                ["unauthenticated", "invalid_token"].contains(&error_code(&body)),
                "{body}"
            );
        }
    }
    // other ways of presenting (or nearly presenting) the right token are refused too
    let prefix = &TOKEN[..TOKEN.len() - 1];
    let near_misses = [
        format!("Basic {TOKEN}"),
        TOKEN.to_string(),
        format!("Bearer {prefix}"),
        format!("Bearer {TOKEN}x"),
        format!("Bearer {}", TOKEN.to_uppercase()),
        "Bearer".to_string(),
    ];
    for (method, path) in &routes {
        for value in &near_misses {
            let url = format!("http://{}{path}", srv.server.admin);
            let req = if method == "post" {
                srv.http.post(url)
            } else {
                srv.http.get(url)
            };
            let resp = req.header("authorization", value).send().await.unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::UNAUTHORIZED,
                "{method} {path} {value:?}"
            );
            assert!(
                resp.headers().contains_key("www-authenticate"),
                "{method} {path}"
            );
        }
        // the token in the query string is not a credential
        let url = format!(
            "http://{}{path}?token={TOKEN}&access_token={TOKEN}",
            srv.server.admin
        );
        let req = if method == "post" {
            srv.http.post(url)
        } else {
            srv.http.get(url)
        };
        assert_eq!(
            req.send().await.unwrap().status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path}?token"
        );
        // and with the right token every route answers (not 401: 200, or 404 for the unknown `x`)
        let resp = srv.raw(method, path, None, Some(TOKEN)).await;
        assert_ne!(
            resp.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with the token"
        );
        assert!(
            !resp.headers().contains_key("www-authenticate"),
            "{method} {path}"
        );
        assert!(
            resp.status().as_u16() < 500,
            "{method} {path}: {}",
            resp.status()
        );
    }
    // open endpoints stay open
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            srv.raw("get", path, None, None).await.status(),
            StatusCode::OK
        );
    }
    srv.stop().await;
}

async fn api_is_disabled_without_a_token(db: Db) {
    let srv = start(&db, ServeOptions::default()).await;
    for path in ["/v1/operators", "/v1/approvals", "/openapi.json"] {
        let (status, body) = srv.call("get", path, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(error_code(&body), "admin_api_disabled", "{body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("disabled"));
    }
    let (status, _) = srv.call("post", "/v1/approvals/x/approve", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    for path in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            srv.raw("get", path, None, None).await.status(),
            StatusCode::OK
        );
    }
    let (status, body) = srv.call("get", "/nope", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    srv.stop().await;
}

async fn approve_flow_is_audited(db: Db) {
    let srv = start(&db, with_token()).await;
    srv.evaluate("s1", "r1", "nmap", T, 0).await;
    let r = srv.evaluate("s1", "r2", "ssh_connect", T, 0).await;
    assert_eq!(r.action, v1::Action::RequireApproval as i32, "{r:?}");
    let id = r.approval_id.clone();
    assert!(!id.is_empty());

    let (status, body) = srv.call("get", "/v1/approvals", None).await;
    assert_eq!(status, StatusCode::OK);
    let list = body["approvals"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{body}");
    assert_eq!(list[0]["id"], id.as_str());
    assert_eq!(list[0]["status"], "pending");
    assert_eq!(list[0]["tool"], "ssh_connect");
    assert_eq!(list[0]["operator"], "op1");
    let (_, body) = srv.call("get", "/v1/approvals?status=approved", None).await;
    assert!(body["approvals"].as_array().unwrap().is_empty());
    let (status, body) = srv.call("get", "/v1/approvals?status=maybe", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (status, body) = srv.call("get", "/v1/approvals?limit=abc", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );

    let path = format!("/v1/approvals/{id}/approve");
    let by = json!({"by": "alice", "note": "ticket SEC-42"});
    let (status, body) = srv.call("post", &path, Some(by)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["approval"]["status"], "approved");
    assert_eq!(body["approval"]["decided_by"], "alice");
    assert_eq!(body["approval"]["note"], "ticket SEC-42");
    assert!(body["approval"]["decided_at_ms"].as_i64().unwrap() > AT);
    let (status, body) = srv.call("post", &path, None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "not_pending")
    );
    let (status, body) = srv
        .call("post", &format!("/v1/approvals/{id}/deny"), None)
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "not_pending")
    );
    let (status, body) = srv.call("post", "/v1/approvals/nope/deny", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = srv.call("get", "/v1/approvals/nope", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = srv
        .call("post", &path, Some(Value::String("not an object".into())))
        .await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );

    // the approved call passes once; the approval is then consumed
    let r = srv.evaluate("s1", "r3", "ssh_connect", T, 0).await;
    assert_eq!(r.action, v1::Action::Allow as i32, "{r:?}");
    let (_, body) = srv.call("get", &format!("/v1/approvals/{id}"), None).await;
    assert_eq!(body["approval"]["status"], "consumed");
    assert_eq!(body["approval"]["decided_by"], "alice");

    let (status, body) = srv.call("get", "/v1/audit", None).await;
    assert_eq!(status, StatusCode::OK);
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{body}");
    assert_eq!(entries[0]["action"], "approve");
    assert_eq!(entries[0]["actor"], "alice");
    assert_eq!(entries[0]["subject"], id.as_str());
    assert_eq!(entries[0]["note"], "ticket SEC-42");
    srv.stop().await;
}

async fn operators_sessions_graph_and_reset(db: Db) {
    let srv = start(&db, with_token()).await;
    srv.evaluate("s1", "r1", "nmap", T, 1).await;
    srv.evaluate("s1", "r2", "exploit_framework", T, 2).await;
    // after exploiting T the operator moves on to another target: a pivot
    srv.evaluate("s1", "r3", "nmap", "db.corp-b.example.com", 3)
        .await;
    srv.evaluate("s2", "r4", "nmap", T, 4).await;

    let (status, body) = srv.call("get", "/v1/operators", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let op = &body["operators"][0];
    assert_eq!(op["operator"], "op1");
    assert_eq!(op["max_phase"], "exploit");
    assert_eq!(
        (op["sessions"].as_i64(), op["events"].as_i64()),
        (Some(2), Some(4))
    );
    assert!(op["risk"]["current"].as_f64().unwrap() > 0.0, "{op}");
    assert_eq!(op["risk"]["at_ms"], AT + 4000);
    assert_eq!(op["last_seen_ms"], AT + 4000);
    let scans = op["budgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["category"] == "scans")
        .unwrap();
    assert_eq!(
        (scans["used"].as_i64(), scans["limit"].as_i64()),
        (Some(3), Some(100))
    );
    let (_, body) = srv
        .call("get", "/v1/operators?limit=1&offset=1", None)
        .await;
    assert!(body["operators"].as_array().unwrap().is_empty());
    let (status, _) = srv.call("get", "/v1/operators?limit=0", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, body) = srv.call("get", "/v1/operators/op1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["sessions"].as_array().unwrap().len(), 2);
    assert_eq!(body["operator"]["phases"], json!(["recon", "exploit"]));

    let (status, g) = srv.call("get", "/v1/operators/op1/graph", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(g["fan_out"], 2);
    let targets = g["targets"].as_array().unwrap();
    let corp_a = targets.iter().find(|t| t["target"] == T).unwrap();
    assert_eq!(corp_a["max_phase"], "exploit");
    assert_eq!(corp_a["phases"], json!(["recon", "exploit"]));
    assert_eq!(g["pivots"][0]["from"], T);
    assert_eq!(g["pivots"][0]["to"], "db.corp-b.example.com");

    let (_, body) = srv.call("get", "/v1/sessions?operator=op1", None).await;
    assert_eq!(body["sessions"].as_array().unwrap().len(), 2);
    let (status, body) = srv.call("get", "/v1/sessions/s1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["session"]["max_phase"], "exploit");
    assert_eq!(body["session"]["event_count"], 3);
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0]["targets"], json!(["db.corp-b.example.com"]));
    assert_eq!(events[1]["tool"], "exploit_framework");
    assert_eq!(events[2]["phase"], "recon");
    assert_eq!(events[2]["action"], "allow");

    for path in [
        "/v1/operators/ghost",
        "/v1/operators/ghost/graph",
        "/v1/sessions/ghost",
        "/v1/v2/nothing",
    ] {
        let (status, body) = srv.call("get", path, None).await;
        assert_eq!(
            (status, error_code(&body)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (status, _) = srv.call("post", "/v1/operators/ghost/reset", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = srv.call("get", "/v1/operators/op1/reset", None).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );

    let body = json!({"by": "bob", "note": "lab rebuilt"});
    let (status, body) = srv
        .call("post", "/v1/operators/op1/reset", Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["reset"]["events"], 4);
    assert_eq!(body["reset"]["sessions"], 2);
    assert_eq!(body["reset"]["targets"], 2);
    assert_eq!(body["reset"]["pivots"], 1);
    let (status, _) = srv.call("get", "/v1/operators/op1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = srv.call("get", "/v1/operators", None).await;
    assert!(body["operators"].as_array().unwrap().is_empty());
    let (_, body) = srv.call("get", "/v1/audit?operator=op1", None).await;
    let entry = &body["entries"][0];
    assert_eq!(
        (entry["action"].as_str(), entry["actor"].as_str()),
        (Some("reset_operator"), Some("bob"))
    );
    assert_eq!(entry["detail"]["events"], 4);
    // a fresh start: the exploit is a lone high phase again, not a progression
    let r = srv.evaluate("s3", "r5", "exploit_framework", T, 5).await;
    assert_eq!(r.max_phase, v1::Phase::Exploit as i32);
    let (_, body) = srv.call("get", "/v1/operators/op1", None).await;
    assert_eq!(body["operator"]["phases"], json!(["exploit"]));
    srv.stop().await;
}

async fn openapi_lists_all_routes(db: Db) {
    let srv = start(&db, with_token()).await;
    let resp = srv.raw("get", "/openapi.json", None, Some(TOKEN)).await;
    assert_eq!(resp.headers()["content-type"], "application/json");
    let (_, doc) = srv.call("get", "/openapi.json", None).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in [
        ("get", "/v1/overview"),
        ("get", "/v1/operators"),
        ("get", "/v1/operators/{operator}"),
        ("get", "/v1/operators/{operator}/events"),
        ("get", "/v1/operators/{operator}/graph"),
        ("post", "/v1/operators/{operator}/reset"),
        ("get", "/v1/sessions"),
        ("get", "/v1/sessions/{session}"),
        ("get", "/v1/approvals"),
        ("get", "/v1/approvals/{id}"),
        ("post", "/v1/approvals/{id}/approve"),
        ("post", "/v1/approvals/{id}/deny"),
        ("get", "/v1/audit"),
        ("get", "/openapi.json"),
    ] {
        assert!(
            paths[path].get(method).is_some(),
            "{method} {path} undocumented"
        );
    }
    assert_eq!(paths.len(), 14);
    srv.stop().await;
}

async fn retention_prunes_events_and_keeps_summaries(db: Db) {
    let options = ServeOptions {
        retention: Some(Duration::from_secs(3600)),
        prune_interval: Duration::from_millis(200),
        ..with_token()
    };
    let srv = start(&db, options).await;
    // event time in 2023: older than the retention as soon as the task runs
    srv.evaluate("s1", "r1", "nmap", T, 1).await;
    srv.evaluate("s1", "r2", "exploit_framework", T, 2).await;
    let mut events = usize::MAX;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (_, body) = srv.call("get", "/v1/sessions/s1", None).await;
        events = body["events"].as_array().unwrap().len();
        if events == 0 {
            assert_eq!(body["session"]["event_count"], 2, "{body}");
            assert_eq!(body["session"]["max_phase"], "exploit");
            break;
        }
    }
    assert_eq!(events, 0, "events were not pruned");
    let (_, body) = srv.call("get", "/v1/operators/op1", None).await;
    assert_eq!(body["operator"]["max_phase"], "exploit");
    assert_eq!(body["operator"]["events"], 2);
    let (_, g) = srv.call("get", "/v1/operators/op1/graph", None).await;
    assert_eq!(g["targets"][0]["phases"], json!(["recon", "exploit"]));
    // the retention task counts the pruned events after the delete commits, so the counter
    // may lag the read above by a moment
    let mut metrics = String::new();
    for _ in 0..50 {
        metrics = srv
            .raw("get", "/metrics", None, None)
            .await
            .text()
            .await
            .unwrap();
        if metrics.contains("llmfw_state_pruned_events_total 2\n") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        metrics.contains("llmfw_state_pruned_events_total 2\n"),
        "{metrics}"
    );
    // the high-water mark still drives decisions: exfiltration after exploit is a kill chain
    let r = srv.evaluate("s2", "r3", "data_export", T, 3).await;
    assert_eq!(r.max_phase, v1::Phase::Exfiltration as i32);
    srv.stop().await;
}

async fn migrate_then_serve_without_migrating(db: Db) {
    match store::open_store(db.url(), false).await {
        Err(StoreError::SchemaBehind { have: 0, want }) => assert_eq!(want, store::SCHEMA_VERSION),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("an empty database passed the schema check"),
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmfw-state"))
        .args(["migrate", "--database-url", db.url()])
        .env_remove("LLMFW_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("schema version {}", store::SCHEMA_VERSION)),
        "{stdout}"
    );
    assert_eq!(
        store::migrate(db.url()).await.unwrap(),
        store::SCHEMA_VERSION
    );
    let s = store::open_store(db.url(), false).await.unwrap();
    s.ping().await.unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_llmfw-state"))
        .args([
            "prune",
            "--retention-hours",
            "1",
            "--database-url",
            db.url(),
        ])
        .env_remove("LLMFW_DATABASE_URL")
        .env_remove("LLMFW_RETENTION_HOURS")
        .env_remove("LLMFW_STATE_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("pruned 0 events"));
}

macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Db::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Db::postgres().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    every_route_refuses_no_token_and_a_wrong_token,
    api_is_disabled_without_a_token,
    approve_flow_is_audited,
    operators_sessions_graph_and_reset,
    openapi_lists_all_routes,
    retention_prunes_events_and_keeps_summaries,
    migrate_then_serve_without_migrating,
);
