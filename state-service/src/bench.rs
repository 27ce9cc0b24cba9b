//! `llmfw-state bench`: drives the gRPC `Evaluate` API with concurrent clients and reports
//! events/s and latency percentiles. Without `--target` it serves an in-process state service on
//! `--database-url` (the real server, store and engine, over loopback gRPC).
//!
//! Every call carries one tool event; operators, sessions and targets rotate so the store sees
//! many keys. Request ids are unique per run, so nothing is deduplicated away.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use llmfw_api::grpc::state_service_client::StateServiceClient;
use llmfw_api::v1 as pb;
use tokio::sync::Mutex;
use tonic::transport::{Channel, Endpoint};

use crate::engine::EngineConfig;
use crate::{server, store};

/// Flags of `bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Store of the in-process service (ignored with `--target`).
    #[arg(
        long,
        env = "LLMFW_DATABASE_URL",
        default_value = "sqlite://llmfw-bench.db",
        hide_env_values = true
    )]
    pub database_url: String,
    /// A running service to drive instead (`http://host:port`).
    #[arg(long)]
    pub target: Option<String>,
    /// Distinct operators.
    #[arg(long, default_value_t = 100)]
    pub operators: u64,
    /// Distinct sessions (spread over the operators).
    #[arg(long, default_value_t = 1000)]
    pub sessions: u64,
    /// Evaluate calls to send (one tool event each).
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Concurrent in-flight calls.
    #[arg(long, default_value_t = 32)]
    pub concurrency: u64,
    /// Offered load in events/s (open loop, paced); 0 = as fast as possible (closed loop).
    #[arg(long, default_value_t = 0)]
    pub rate: u64,
    /// Before the run, store this many other operators (one session, target, event and budget
    /// counter each; `seed-op-N`, kept across runs) so the cost per event can be measured as
    /// stored state grows (10000, 100000, 1000000). In-process service only.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Group commit of the in-process service: most calls per transaction (1 = one
    /// transaction per call), as `serve --group-commit-max`.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub group_commit_max: u64,
    /// Writer lanes of the in-process service (0 = 1 on SQLite, 12 on PostgreSQL), as `serve
    /// --group-commit-writers`.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=64))]
    pub group_commit_writers: u64,
}

/// Seeding statements; `$1` = time (ms), `$2` = number of operators. Idempotent.
const SEED_POSTGRES: [&str; 5] = [
    "INSERT INTO operators (operator_id, phases_mask, latent_log, first_seen_ms, last_seen_ms) \
     SELECT 'seed-op-' || g, 1, -1000000000.0, $1, $1 FROM generate_series(1, $2) AS g \
     ON CONFLICT DO NOTHING",
    "INSERT INTO sessions (operator_id, session_id, tenant, max_phase, phases_mask, \
     first_seen_ms, last_seen_ms, event_count) \
     SELECT 'seed-op-' || g, 'seed-s-' || g, 'seed', 1, 1, $1, $1, 1 \
     FROM generate_series(1, $2) AS g ON CONFLICT DO NOTHING",
    "INSERT INTO operator_targets (operator_id, target, max_phase, phases_mask, first_seen_ms, \
     last_seen_ms) SELECT 'seed-op-' || g, 'host-' || g || '.seed.example', 1, 1, $1, $1 \
     FROM generate_series(1, $2) AS g ON CONFLICT DO NOTHING",
    "INSERT INTO events (operator_id, request_id, call_id, event_index, session_id, tenant, \
     observed_at_ms, tool, phase, targets, action, risk, reasons, approval_id, args_digest) \
     SELECT 'seed-op-' || g, 'seed-r-' || g, 'c', 0, 'seed-s-' || g, 'seed', $1, 'nmap', 1, \
     '[\"host-' || g || '.seed.example\"]', 'allow', 0.1, '[]', NULL, '' \
     FROM generate_series(1, $2) AS g ON CONFLICT DO NOTHING",
    "INSERT INTO budget_counters (operator_id, budget, bucket_ms, n) \
     SELECT 'seed-op-' || g, 'scans', $1, 1 FROM generate_series(1, $2) AS g \
     ON CONFLICT DO NOTHING",
];

/// The same for SQLite (a recursive row source instead of `generate_series`).
const SEED_SQLITE: [&str; 5] = [
    "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?2) \
     INSERT OR IGNORE INTO operators (operator_id, phases_mask, latent_log, first_seen_ms, \
     last_seen_ms) SELECT 'seed-op-' || g, 1, -1000000000.0, ?1, ?1 FROM s",
    "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?2) \
     INSERT OR IGNORE INTO sessions (operator_id, session_id, tenant, max_phase, phases_mask, \
     first_seen_ms, last_seen_ms, event_count) \
     SELECT 'seed-op-' || g, 'seed-s-' || g, 'seed', 1, 1, ?1, ?1, 1 FROM s",
    "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?2) \
     INSERT OR IGNORE INTO operator_targets (operator_id, target, max_phase, phases_mask, \
     first_seen_ms, last_seen_ms) SELECT 'seed-op-' || g, 'host-' || g || '.seed.example', \
     1, 1, ?1, ?1 FROM s",
    "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?2) \
     INSERT OR IGNORE INTO events (operator_id, request_id, call_id, event_index, session_id, \
     tenant, observed_at_ms, tool, phase, targets, action, risk, reasons, approval_id, \
     args_digest) SELECT 'seed-op-' || g, 'seed-r-' || g, 'c', 0, 'seed-s-' || g, 'seed', ?1, \
     'nmap', 1, '[\"host-' || g || '.seed.example\"]', 'allow', 0.1, '[]', NULL, '' FROM s",
    "WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < ?2) \
     INSERT OR IGNORE INTO budget_counters (operator_id, budget, bucket_ms, n) \
     SELECT 'seed-op-' || g, 'scans', ?1, 1 FROM s",
];

/// Stores `n` seed operators (see [`BenchArgs::seed`]) in the migrated database at `url`.
async fn seed(url: &str, n: u64, now_ms: i64) -> anyhow::Result<()> {
    let n = i64::try_from(n)?;
    let started = Instant::now();
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await?;
        for q in SEED_SQLITE {
            sqlx::query(q).bind(now_ms).bind(n).execute(&pool).await?;
        }
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await?;
        for q in SEED_POSTGRES {
            sqlx::query(q).bind(now_ms).bind(n).execute(&pool).await?;
        }
        sqlx::query("ANALYZE").execute(&pool).await?;
        pool.close().await;
    }
    eprintln!(
        "seeded {n} operators in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What one run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchReport {
    pub events: u64,
    pub errors: u64,
    pub seconds: f64,
    pub events_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl std::fmt::Display for BenchReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "events={} errors={} seconds={:.2} events_per_s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
            self.events, self.errors, self.seconds, self.events_per_second, self.p50_ms, self.p99_ms, self.max_ms
        )
    }
}

const TOOLS: [&str; 6] = [
    "get_weather",
    "nmap",
    "read_file",
    "db_query",
    "search_docs",
    "send_email",
];

fn request(run: &str, i: u64, args: &BenchArgs, now_ms: i64) -> pb::EvaluateRequest {
    let operator = i % args.operators.max(1);
    let session = i % args.sessions.max(1);
    let tool = TOOLS[(i % TOOLS.len() as u64) as usize];
    pb::EvaluateRequest {
        subject: Some(pb::Subject {
            tenant: "bench".to_owned(),
            operator: format!("bench-op-{operator}"),
            session: format!("bench-s-{session}"),
        }),
        request_id: format!("{run}-{i}"),
        observed_at_ms: now_ms + i64::try_from(i).unwrap_or(0),
        events: vec![pb::ToolEvent {
            call_id: format!("call-{i}"),
            tool: tool.to_owned(),
            category: String::new(),
            phase: pb::Phase::Unknown as i32,
            targets: vec![pb::Target {
                value: format!("host-{}.bench.example", i % 50),
                kind: pb::TargetKind::Host as i32,
                in_scope: false,
            }],
            args_digest: format!("{i:064x}"),
            direction: pb::Direction::Proposed as i32,
            arguments_json: String::new(),
        }],
        findings: None,
        pretext_signals: Vec::new(),
        policy_version: String::new(),
    }
}

/// Runs the benchmark and returns the report.
pub async fn run(args: BenchArgs) -> anyhow::Result<BenchReport> {
    let (target, stop) = match &args.target {
        Some(t) => (t.clone(), None),
        None => {
            let store = store::open(&args.database_url)
                .await
                .with_context(|| "opening the bench store".to_owned())?;
            if args.seed > 0 {
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
                    .unwrap_or(0);
                seed(&args.database_url, args.seed, now_ms)
                    .await
                    .with_context(|| "seeding the bench store".to_owned())?;
            }
            let listeners = server::bind("127.0.0.1:0".parse()?, "127.0.0.1:0".parse()?).await?;
            let addr = listeners.grpc.local_addr()?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            let options = server::ServeOptions {
                group_commit: crate::batch::GroupCommit {
                    max_batch: usize::try_from(args.group_commit_max).unwrap_or(1),
                    writers: usize::try_from(args.group_commit_writers).unwrap_or(0),
                },
                ..server::ServeOptions::default()
            };
            let handle = tokio::spawn(server::serve_with(
                store,
                EngineConfig::default(),
                options,
                listeners,
                async {
                    let _ = rx.await;
                },
            ));
            (format!("http://{addr}"), Some((tx, handle)))
        }
    };
    let endpoint = Endpoint::from_shared(target.clone())?.timeout(Duration::from_secs(30));
    // A few HTTP/2 connections, many streams each.
    let mut channels = Vec::new();
    for _ in 0..args.concurrency.clamp(1, 8) {
        channels.push(
            endpoint
                .connect()
                .await
                .with_context(|| format!("connecting to {target}"))?,
        );
    }
    let run_id = format!("bench-{}", std::process::id());
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(0))
        .unwrap_or(0);
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(args.events as usize)));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..args.concurrency.max(1) {
        let channel: Channel = channels[(w as usize) % channels.len()].clone();
        let (next, latencies, errors, args, run_id) = (
            next.clone(),
            latencies.clone(),
            errors.clone(),
            args.clone(),
            run_id.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut client = StateServiceClient::new(channel);
            let mut local = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= args.events {
                    break;
                }
                if args.rate > 0 {
                    // Open loop: call i is due at i / rate seconds after the start.
                    let due = started + Duration::from_secs_f64(i as f64 / args.rate as f64);
                    tokio::time::sleep_until(due.into()).await;
                }
                let t = Instant::now();
                match client.evaluate(request(&run_id, i, &args, now_ms)).await {
                    Ok(_) => local.push(t.elapsed()),
                    Err(_) => {
                        errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
            latencies.lock().await.extend(local);
        }));
    }
    for w in workers {
        w.await?;
    }
    let seconds = started.elapsed().as_secs_f64();
    if let Some((tx, handle)) = stop {
        let _ = tx.send(());
        handle.await??;
    }
    let mut lat = latencies.lock().await.clone();
    lat.sort();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return 0.0;
        }
        let idx = ((lat.len() as f64 - 1.0) * p).round() as usize;
        lat[idx.min(lat.len() - 1)].as_secs_f64() * 1e3
    };
    let ok = lat.len() as u64;
    Ok(BenchReport {
        events: ok,
        errors: errors.load(std::sync::atomic::Ordering::Relaxed),
        seconds,
        events_per_second: ok as f64 / seconds.max(1e-9),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        max_ms: lat.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    })
}
