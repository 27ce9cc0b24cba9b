//! PostgreSQL under stress, against the built `llmfw-state` binary (DESIGN §4.3):
//!
//! - two service processes on one fresh database, concurrent `Evaluate` calls for the same
//!   operator: event rows, budget counters, session counts and max phases come out exact;
//! - PostgreSQL stopped (fast shutdown) and restarted mid-run on a private cluster, and the
//!   connection cut and restored through a TCP proxy: calls fail with `UNAVAILABLE` naming the
//!   store within their deadline, the service stays up and serves again within 5 s of the
//!   database returning, every acknowledged event is stored, counters match the stored events, and
//!   the failed requests, retried with their request ids, are counted exactly once.
//!
//! The three tests run one at a time (timings are measured); each prints what it measured.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmfw_api::grpc::state_service_client::StateServiceClient;
use llmfw_api::v1;
use llmfw_testkit::paths::free_port;
use llmfw_testkit::pg::{host_port, server_url, with_host_port, PgProxy, PrivatePg, TestDb};
use llmfw_testkit::process::{wait_until, Proc};
use sqlx::postgres::PgPoolOptions;
use sqlx::{PgPool, Row};
use tonic::transport::{Channel, Endpoint};

/// The deadline every test call carries (the filter's default is 200 ms; this is generous for a
/// debug build on two shared cores, and still far below "hangs").
const DEADLINE: Duration = Duration::from_secs(3);
/// The service must serve again this soon after the database is back.
const RECOVERY: Duration = Duration::from_secs(5);
const OBSERVED_AT_MS: i64 = 1_700_000_000_000;

/// Tool, budget it counts against, phase number.
const TOOLS: [(&str, &str, i64); 4] = [
    ("nmap", "scans", 1),
    ("exploit_framework", "exploitation", 2),
    ("ssh_connect", "lateral", 3),
    ("data_export", "exfiltration", 5),
];

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

// ---------------------------------------------------------------------------------------------
// the service process

struct Service {
    proc: Proc,
    grpc: SocketAddr,
    admin: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Service {
    async fn start(label: &str, database_url: &str) -> Service {
        let dir = tempfile::tempdir().unwrap();
        let grpc: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap())
            .parse()
            .unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port().unwrap())
            .parse()
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_llmfw-state"));
        cmd.arg("--database-url")
            .arg(database_url)
            .arg("--listen")
            .arg(grpc.to_string())
            .arg("--admin-listen")
            .arg(admin.to_string())
            .env("RUST_LOG", "info");
        let proc = Proc::spawn(label, cmd, &dir.path().join("state.log")).unwrap();
        let svc = Service {
            proc,
            grpc,
            admin,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        let url = format!("http://{admin}/readyz");
        wait_until(label, Duration::from_secs(30), || {
            let (c, u) = (http.clone(), url.clone());
            async move { c.get(u).send().await.is_ok_and(|r| r.status() == 200) }
        })
        .await
        .unwrap();
        svc
    }

    async fn client(&self) -> StateServiceClient<Channel> {
        let channel = Endpoint::from_shared(format!("http://{}", self.grpc))
            .unwrap()
            .timeout(DEADLINE)
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .unwrap();
        StateServiceClient::new(channel)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let r = reqwest::get(format!("http://{}{path}", self.admin))
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    async fn store_errors(&self) -> u64 {
        let (_, text) = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix("llmfw_state_store_errors_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.proc.log_text();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!("--- {} log (tail) ---", self.proc.name);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// requests and what the store must hold

/// One planned request: its id, session and events (tool index into [`TOOLS`], target).
#[derive(Clone, Debug)]
struct Planned {
    request_id: String,
    session: String,
    events: Vec<(usize, String)>,
}

impl Planned {
    fn to_proto(&self, operator: &str) -> v1::EvaluateRequest {
        v1::EvaluateRequest {
            subject: Some(v1::Subject {
                tenant: "acme".into(),
                operator: operator.into(),
                session: self.session.clone(),
            }),
            request_id: self.request_id.clone(),
            observed_at_ms: OBSERVED_AT_MS,
            events: self
                .events
                .iter()
                .enumerate()
                .map(|(i, (tool, target))| v1::ToolEvent {
                    call_id: format!("call-{i}"),
                    tool: TOOLS[*tool].0.into(),
                    targets: vec![v1::Target {
                        value: target.clone(),
                        kind: v1::TargetKind::Host as i32,
                        in_scope: false,
                    }],
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

/// Reads what the store holds for `operator` and checks that every counter agrees with the stored
/// event rows: budget sums per budget, session event counts and max phases, target max phases,
/// the operator's phase mask. Returns the stored request ids and the number of stored events.
async fn check_counters(pool: &PgPool, operator: &str) -> (HashSet<String>, usize) {
    let rows = sqlx::query(
        "SELECT request_id, session_id, tool, phase::BIGINT, targets FROM events \
         WHERE operator_id = $1",
    )
    .bind(operator)
    .fetch_all(pool)
    .await
    .unwrap();
    let mut requests = HashSet::new();
    let mut budgets: BTreeMap<String, i64> = BTreeMap::new();
    let mut sessions: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut targets: BTreeMap<String, i64> = BTreeMap::new();
    let mut mask = 0i64;
    for r in &rows {
        requests.insert(r.get::<String, _>(0));
        let tool: String = r.get(2);
        let phase: i64 = r.get(3);
        let (_, budget, want_phase) = TOOLS.iter().find(|t| t.0 == tool).unwrap();
        assert_eq!(phase, *want_phase, "{tool} stored with phase {phase}");
        *budgets.entry((*budget).to_owned()).or_default() += 1;
        let s = sessions.entry(r.get(1)).or_default();
        s.0 = s.0.max(phase);
        s.1 += 1;
        let ts: Vec<String> = serde_json::from_str(&r.get::<String, _>(4)).unwrap();
        for t in ts {
            let m = targets.entry(t).or_default();
            *m = (*m).max(phase);
        }
        mask |= 1 << phase;
    }
    let stored_budgets: BTreeMap<String, i64> = sqlx::query(
        "SELECT budget, SUM(n)::BIGINT FROM budget_counters WHERE operator_id = $1 GROUP BY budget",
    )
    .bind(operator)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(stored_budgets, budgets, "budget counters vs stored events");
    let stored_sessions: BTreeMap<String, (i64, i64)> = sqlx::query(
        "SELECT session_id, max_phase::BIGINT, event_count FROM sessions WHERE operator_id = $1",
    )
    .bind(operator)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), (r.get(1), r.get(2))))
    .collect();
    assert_eq!(
        stored_sessions, sessions,
        "sessions (max phase, event count) vs stored events"
    );
    let stored_targets: BTreeMap<String, i64> = sqlx::query(
        "SELECT target, max_phase::BIGINT FROM operator_targets WHERE operator_id = $1",
    )
    .bind(operator)
    .fetch_all(pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    assert_eq!(
        stored_targets, targets,
        "target max phases vs stored events"
    );
    let stored_mask: i64 =
        sqlx::query_scalar("SELECT phases_mask::BIGINT FROM operators WHERE operator_id = $1")
            .bind(operator)
            .fetch_one(pool)
            .await
            .unwrap();
    assert_eq!(stored_mask, mask, "operator phase mask vs stored events");
    (requests, rows.len())
}

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// 1. two replicas, one database

const CLIENTS_PER_SERVICE: usize = 4;
const REQUESTS_PER_CLIENT: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_database_keep_exact_counters() {
    let _serial = SERIAL.lock().await;
    let started = Instant::now();
    let db = TestDb::create("replicas").await.unwrap();
    // both processes migrate the fresh database at the same time
    let (a, b) = tokio::join!(
        Service::start("llmfw-state-a", &db.url),
        Service::start("llmfw-state-b", &db.url)
    );
    let op = "op-replicas";
    let mut tasks = Vec::new();
    for (s, svc) in [&a, &b].into_iter().enumerate() {
        for c in 0..CLIENTS_PER_SERVICE {
            let mut client = svc.client().await;
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..REQUESTS_PER_CLIENT {
                    let k = s + c + i;
                    // two events of different categories, in varying order, on shared targets
                    // and sessions: every transaction touches contended counter rows
                    let first = k % 4;
                    let second = (k + 1 + i % 3) % 4;
                    let p = Planned {
                        request_id: format!("r-{s}-{c}-{i}"),
                        session: format!("s-{}", i % 3),
                        events: vec![
                            (first, format!("host-{}.example.com", k % 3)),
                            (second, format!("host-{}.example.com", (k + 1) % 3)),
                        ],
                    };
                    match client.evaluate(p.to_proto(op)).await {
                        Ok(_) => acked.push(p),
                        Err(e) => panic!("{} failed: {:?} {}", p.request_id, e.code(), e.message()),
                    }
                }
                acked
            }));
        }
    }
    let mut acked: Vec<Planned> = Vec::new();
    for t in tasks {
        acked.extend(t.await.unwrap());
    }
    let sent_at = started.elapsed();
    let events: usize = acked.iter().map(|p| p.events.len()).sum();
    assert_eq!(
        events,
        2 * CLIENTS_PER_SERVICE * REQUESTS_PER_CLIENT * 2,
        "all events acknowledged"
    );

    let pool = pool(&db.url).await;
    let (stored_requests, stored_events) = check_counters(&pool, op).await;
    assert_eq!(
        stored_events, events,
        "stored events == acknowledged events"
    );
    assert_eq!(stored_requests.len(), acked.len());
    let mut want: BTreeMap<&str, i64> = BTreeMap::new();
    for (tool, _) in acked.iter().flat_map(|p| p.events.iter()) {
        *want.entry(TOOLS[*tool].1).or_default() += 1;
    }
    let got: BTreeMap<String, i64> = sqlx::query(
        "SELECT budget, SUM(n)::BIGINT FROM budget_counters WHERE operator_id = $1 GROUP BY budget",
    )
    .bind(op)
    .fetch_all(&pool)
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect();
    let want: BTreeMap<String, i64> = want.into_iter().map(|(k, v)| (k.into(), v)).collect();
    assert_eq!(
        got, want,
        "budget counters == acknowledged events per category"
    );
    assert_eq!((a.store_errors().await, b.store_errors().await), (0, 0));
    pool.close().await;
    eprintln!(
        "replicas: {events} events in {} requests over 2 processes acknowledged in {sent_at:?}; \
         counters exact; budgets {got:?}",
        acked.len()
    );
}

// ---------------------------------------------------------------------------------------------
// 2. the database goes away mid-run and comes back

enum Outage<'a> {
    /// Fast shutdown of a private cluster, then start it again.
    Stop(&'a PrivatePg),
    /// Connections cut at a proxy, then let through again.
    Cut(&'a PgProxy),
}

impl Outage<'_> {
    async fn begin(&self) {
        match self {
            Outage::Stop(pg) => tokio::task::block_in_place(|| pg.stop()).unwrap(),
            Outage::Cut(proxy) => proxy.cut(),
        }
    }

    async fn end(&self) {
        match self {
            Outage::Stop(pg) => tokio::task::block_in_place(|| pg.start()).unwrap(),
            Outage::Cut(proxy) => proxy.restore().await.unwrap(),
        }
    }
}

/// The outcome of one call.
struct Outcome {
    planned: Planned,
    result: Result<(), (tonic::Code, String)>,
    elapsed: Duration,
}

async fn call(client: &mut StateServiceClient<Channel>, op: &str, p: Planned) -> Outcome {
    let t = Instant::now();
    let result = client
        .evaluate(p.to_proto(op))
        .await
        .map(|_| ())
        .map_err(|e| (e.code(), e.message().to_owned()));
    Outcome {
        planned: p,
        result,
        elapsed: t.elapsed(),
    }
}

fn single(n: usize, prefix: &str) -> Planned {
    Planned {
        request_id: format!("{prefix}-{n}"),
        session: format!("s-{}", n % 2),
        events: vec![(n % 4, format!("host-{}.example.com", n % 5))],
    }
}

const LOAD_CLIENTS: usize = 3;

/// Runs load against a service on `service_url`, takes the database away mid-run, brings it
/// back, and checks what DESIGN §4.3 and docs/operations.md promise (see the module docs).
async fn outage_mid_run(label: &str, service_url: &str, check_url: &str, outage: Outage<'_>) {
    let mut svc = Service::start(label, service_url).await;
    let op = "op-outage";
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let next = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for _ in 0..LOAD_CLIENTS {
        let mut client = svc.client().await;
        let (stop, acked, next) = (stop.clone(), acked.clone(), next.clone());
        load.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let p = single(next.fetch_add(1, Ordering::Relaxed), "load");
                let o = call(&mut client, op, p).await;
                if o.result.is_ok() {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
                out.push(o);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            out
        }));
    }
    let before = async {
        while acked.load(Ordering::Relaxed) < 40 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), before)
        .await
        .expect("load acknowledged before the outage");

    let t = Instant::now();
    outage.begin().await;
    let outage_took = t.elapsed();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut probe_client = svc.client().await;
    let mut probes = Vec::new();
    for n in 0..2 {
        let o = call(&mut probe_client, op, single(n, "probe-down")).await;
        let (code, message) = o
            .result
            .clone()
            .expect_err("evaluate fails while the store is down");
        assert_eq!(code, tonic::Code::Unavailable, "{message}");
        assert!(message.contains("postgres store unavailable"), "{message}");
        assert!(
            o.elapsed < DEADLINE,
            "answered within the deadline: {o:?}",
            o = o.elapsed
        );
        probes.push(o);
    }
    assert!(svc.proc.running(), "the service stays up");
    assert_eq!(svc.get("/healthz").await.0, 200);
    assert_eq!(svc.get("/readyz").await.0, 503);

    outage.end().await;
    let back = Instant::now();
    let mut n = 0;
    let recovered = loop {
        n += 1;
        let o = call(&mut probe_client, op, single(n, "probe-up")).await;
        if o.result.is_ok() {
            probes.push(o);
            break back.elapsed();
        }
        assert!(
            back.elapsed() < RECOVERY,
            "no successful evaluate within {RECOVERY:?} of the database being back: {:?}",
            o.result
        );
        probes.push(o);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut outcomes = probes;
    for t in load {
        outcomes.extend(t.await.unwrap());
    }

    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    assert!(!failed.is_empty(), "the outage was seen by the load");
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    for o in &failed {
        let (code, message) = o.result.as_ref().unwrap_err();
        *codes.entry(format!("{code:?}")).or_default() += 1;
        assert_eq!(*code, tonic::Code::Unavailable, "{message}");
        assert!(message.contains("postgres store unavailable"), "{message}");
        assert!(o.elapsed < DEADLINE, "failed within the deadline");
    }
    let slowest_error = failed.iter().map(|o| o.elapsed).max().unwrap_or_default();
    assert!(svc.store_errors().await >= failed.len() as u64);

    // every acknowledged event is stored; counters agree with whatever was stored
    let pool = pool(check_url).await;
    let (stored, _) = check_counters(&pool, op).await;
    for o in outcomes.iter().filter(|o| o.result.is_ok()) {
        assert!(
            stored.contains(&o.planned.request_id),
            "acknowledged {} is stored",
            o.planned.request_id
        );
    }
    let committed_but_failed = failed
        .iter()
        .filter(|o| stored.contains(&o.planned.request_id))
        .count();

    // the filter retries with the same request id: each failed request now counts exactly once
    let mut client = svc.client().await;
    for o in &failed {
        let r = call(&mut client, op, o.planned.clone()).await;
        assert!(
            r.result.is_ok(),
            "retry of {}: {:?}",
            o.planned.request_id,
            r.result
        );
    }
    let (stored, stored_events) = check_counters(&pool, op).await;
    let all: HashSet<String> = outcomes
        .iter()
        .map(|o| o.planned.request_id.clone())
        .collect();
    assert_eq!(stored, all, "every request stored once after the retries");
    assert_eq!(stored_events, all.len());
    pool.close().await;
    eprintln!(
        "{label}: outage took {outage_took:?} to begin; {} calls, {} failed {codes:?} \
         (slowest error {slowest_error:?}, {committed_but_failed} committed before the error); \
         serving again {recovered:?} after the database was back",
        outcomes.len(),
        failed.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_mid_run_fails_fast_and_recovers() {
    let _serial = SERIAL.lock().await;
    let pg = PrivatePg::start_new().unwrap();
    let url = pg.url();
    outage_mid_run("pg-restart", &url, &url, Outage::Stop(&pg)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_mid_run_fails_fast_and_recovers() {
    let _serial = SERIAL.lock().await;
    let db = TestDb::create("unreachable").await.unwrap();
    let proxy = PgProxy::start(host_port(&server_url()).unwrap())
        .await
        .unwrap();
    let via_proxy = with_host_port(&db.url, &proxy.addr.to_string()).unwrap();
    outage_mid_run("pg-unreachable", &via_proxy, &db.url, Outage::Cut(&proxy)).await;
}
