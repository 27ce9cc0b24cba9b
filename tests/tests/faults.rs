//! Faults through the real stack: two Envoys with the built filter — one `failure_mode: closed`,
//! one `open` — share one state service and one demo upstream, and carry steady tool-call
//! traffic while the state service is killed (`kill -9`, during a burst), hung (a listener that
//! completes HTTP/2 and never answers), slow (its answers delayed past the filter's timeout),
//! restarted (SIGTERM), or while its PostgreSQL is stopped and started again.
//!
//! Every request is classified: decided by the state service (the tool call passes, no
//! `x-llmfw-decision`), refused by the closed Envoy (`state service unavailable`, decision
//! `block`), passed with a warning by the open Envoy (decision `warn`, same reason). Checked for
//! each fault: nothing else ever comes back; every request sent and answered while the fault
//! lasted got its Envoy's failure mode; both Envoys are served by the state service again within
//! 5 s of the dependency returning, and stay so (at least 90 % decided afterwards, the rest
//! callouts slower than the timeout on a loaded machine); every call the state service decided is stored
//! (the sessions listed by the admin API, after a restart on the same database where the service
//! was killed) and Envoy's `decision.allow` counters equal the decided calls. Each test prints
//! what it measured (`cargo test -p llmfw-tests --test faults -- --nocapture`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmfw_tests::envoy::{bootstrap, EnvoyLayout};
use llmfw_tests::faults::{DelayProxy, HungH2};
use llmfw_tests::paths::{free_port, wasm_module};
use llmfw_tests::pg::PrivatePg;
use llmfw_tests::process::{wait_until, Proc};
use llmfw_tests::stack::{default_plugin_config, envoy_command};
use llmfw_tests::{Stack, StackOptions, Store};
use serde_json::{json, Value};

/// The filter's callout timeout in these stacks (`default_plugin_config`).
const CALLOUT_TIMEOUT: Duration = Duration::from_millis(500);
/// Both Envoys must be served by the state service again this soon after it is back.
const RECOVERY: Duration = Duration::from_secs(5);
/// How long each fault lasts.
const FAULT: Duration = Duration::from_millis(2500);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    Closed,
    Open,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    /// The state service answered: the tool call passed as allowed.
    Decided,
    /// failure_mode closed: the call was refused because the state service was unavailable.
    Refused,
    /// failure_mode open: the call passed with a warning naming the unavailable state service.
    PassedWarned,
    Unexpected(String),
}

#[derive(Clone, Debug)]
struct Sample {
    mode: Mode,
    session: String,
    start: Duration,
    end: Duration,
    outcome: Outcome,
}

/// The stack (its Envoy is the closed one) plus a second Envoy in open mode on the same
/// upstream and state-service port.
struct Pair {
    stack: Stack,
    open_envoy: Proc,
    open_port: u16,
    open_admin: u16,
}

async fn pair(label: &str, store: Option<Store>, state_port: Option<u16>) -> Pair {
    let stack = Stack::start(StackOptions {
        label: label.to_owned(),
        plugin_config: default_plugin_config("closed", &[]),
        store,
        state_port,
    })
    .await
    .unwrap();
    let wasm = wasm_module();
    let (open_port, open_admin) = (free_port().unwrap(), free_port().unwrap());
    let layout = EnvoyLayout {
        listen_port: open_port,
        admin_port: open_admin,
        upstream_port: stack.upstream_port,
        state_port: stack.state_port,
        wasm: &wasm,
    };
    let config = stack.dir.join("envoy-open.yaml");
    std::fs::write(
        &config,
        bootstrap(&layout, &default_plugin_config("open", &[])).unwrap(),
    )
    .unwrap();
    let open_envoy = Proc::spawn(
        "envoy-open",
        envoy_command(&config),
        &stack.dir.join("envoy-open.log"),
    )
    .unwrap();
    let http = reqwest::Client::new();
    let ready = format!("http://127.0.0.1:{open_admin}/ready");
    wait_until("open envoy", Duration::from_secs(30), || {
        let (c, u) = (http.clone(), ready.clone());
        async move { c.get(u).send().await.is_ok_and(|r| r.status() == 200) }
    })
    .await
    .unwrap();
    Pair {
        stack,
        open_envoy,
        open_port,
        open_admin,
    }
}

impl Pair {
    fn targets(&self) -> [(Mode, u16); 2] {
        [
            (Mode::Closed, self.stack.listen_port),
            (Mode::Open, self.open_port),
        ]
    }

    async fn counter(&self, mode: Mode, name: &str) -> u64 {
        let admin = match mode {
            Mode::Closed => self.stack.admin_port,
            Mode::Open => self.open_admin,
        };
        let text = reqwest::get(format!("http://127.0.0.1:{admin}/stats?filter={name}"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter_map(|l| l.split_once(": "))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Sessions of `operator` the store holds events for (admin API, paged).
    async fn stored_sessions(&self, operator: &str) -> HashSet<String> {
        let mut out = HashSet::new();
        for page in 0.. {
            let v = self
                .stack
                .admin_get(&format!(
                    "/v1/sessions?operator={operator}&limit=1000&offset={}",
                    page * 1000
                ))
                .await
                .unwrap();
            let sessions = v["sessions"].as_array().cloned().unwrap_or_default();
            for s in &sessions {
                if s["event_count"].as_i64().unwrap_or(0) > 0 {
                    out.insert(s["session"].as_str().unwrap_or_default().to_owned());
                }
            }
            if sessions.len() < 1000 {
                break;
            }
        }
        out
    }

    fn logs(&self) -> String {
        format!(
            "{}--- envoy-open ---\n{}",
            self.stack.logs(),
            llmfw_tests::stack::tail(&self.open_envoy.log_text(), 60)
        )
    }
}

/// Steady traffic: `workers` clients per Envoy, each proposing `get_weather` in a fresh session
/// per request, pausing `pause` between requests.
struct Load {
    t0: Instant,
    stop: Arc<AtomicBool>,
    decided: Arc<AtomicUsize>,
    tasks: Vec<tokio::task::JoinHandle<Vec<Sample>>>,
}

fn classify(
    mode: Mode,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
) -> Outcome {
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let decision = header("x-llmfw-decision");
    let reasons = header("x-llmfw-reasons").unwrap_or_default();
    let message = &body["choices"][0]["message"];
    let tools: Vec<&str> = message["tool_calls"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["function"]["name"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let content = message["content"].as_str().unwrap_or_default();
    let unavailable = "state service unavailable";
    match (mode, status, tools.as_slice(), decision.as_deref()) {
        (_, 200, ["get_weather"], None | Some("allow")) => Outcome::Decided,
        (Mode::Closed, 200, [], Some("block")) if content.contains(unavailable) => Outcome::Refused,
        (Mode::Open, 200, ["get_weather"], Some("warn")) if reasons.contains(unavailable) => {
            Outcome::PassedWarned
        }
        _ => Outcome::Unexpected(format!("{status} {decision:?} {reasons:?} {body}")),
    }
}

fn start_load(pair: &Pair, operator: &str, workers: usize, pause: Duration) -> Load {
    let t0 = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let decided = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (mode, port) in pair.targets() {
        for w in 0..workers {
            let (stop, decided, operator) = (stop.clone(), decided.clone(), operator.to_owned());
            tasks.push(tokio::spawn(async move {
                let http = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap();
                let url = format!("http://127.0.0.1:{port}/v1/chat/completions");
                let mut out = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let session = format!("{mode:?}-{w}-{i}").to_lowercase();
                    let tool = json!({"tool": "get_weather", "arguments": {"city": "Berlin"}});
                    let body = json!({
                        "model": "demo-model",
                        "messages": [{"role": "user", "content": tool.to_string()}],
                        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
                    });
                    let start = t0.elapsed();
                    let reply = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-llmfw-operator", &operator)
                        .header("x-llmfw-session", &session)
                        .header("x-llmfw-tenant", "faults")
                        .body(body.to_string())
                        .send()
                        .await;
                    let outcome = match reply {
                        Err(e) => Outcome::Unexpected(format!("request failed: {e}")),
                        Ok(r) => {
                            let (status, headers) = (r.status().as_u16(), r.headers().clone());
                            match r.json::<Value>().await {
                                Ok(v) => classify(mode, status, &headers, &v),
                                Err(e) => Outcome::Unexpected(format!("{status}: {e}")),
                            }
                        }
                    };
                    if outcome == Outcome::Decided {
                        decided.fetch_add(1, Ordering::Relaxed);
                    }
                    out.push(Sample {
                        mode,
                        session,
                        start,
                        end: t0.elapsed(),
                        outcome,
                    });
                    tokio::time::sleep(pause).await;
                }
                out
            }));
        }
    }
    Load {
        t0,
        stop,
        decided,
        tasks,
    }
}

impl Load {
    fn now(&self) -> Duration {
        self.t0.elapsed()
    }

    /// Waits until `n` more calls were decided by the state service.
    async fn wait_decided(&self, n: usize, within: Duration) {
        let want = self.decided.load(Ordering::Relaxed) + n;
        let deadline = Instant::now() + within;
        while self.decided.load(Ordering::Relaxed) < want {
            assert!(Instant::now() < deadline, "no decided traffic");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        let mut out = Vec::new();
        for t in self.tasks {
            out.extend(t.await.unwrap());
        }
        out
    }
}

/// When the fault began and ended, and when the dependency was back, on the load's clock.
struct Timeline {
    fault_start: Duration,
    fault_end: Duration,
    back: Duration,
}

/// What one fault run measured.
#[derive(Debug)]
struct Measured {
    requests: usize,
    during_fault: [usize; 2],
    recovery_ms: [u128; 2],
    /// Calls after the recovery that still got the failure mode (callout slower than the timeout).
    late: [usize; 2],
    decided: usize,
    stored: usize,
}

/// Waits (at most [`RECOVERY`]) until calls are decided again, then lets the load run one more
/// second and stops it.
async fn recover_and_finish(load: Load) -> Vec<Sample> {
    load.wait_decided(4, RECOVERY + Duration::from_millis(500))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    load.finish().await
}

/// The checks every fault shares (see the module docs).
async fn check(
    label: &str,
    pair: &Pair,
    operator: &str,
    samples: &[Sample],
    t: &Timeline,
) -> Measured {
    let unexpected: Vec<&Sample> = samples
        .iter()
        .filter(|s| matches!(s.outcome, Outcome::Unexpected(_)))
        .collect();
    assert!(
        unexpected.is_empty(),
        "{label}: unexpected replies: {unexpected:#?}\n{}",
        pair.logs()
    );
    let mut during = [0usize; 2];
    let mut recovery_ms = [0u128; 2];
    let mut late = [0usize; 2];
    for (i, mode) in [Mode::Closed, Mode::Open].into_iter().enumerate() {
        let failed = match mode {
            Mode::Closed => Outcome::Refused,
            Mode::Open => Outcome::PassedWarned,
        };
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.mode == mode).collect();
        assert!(
            mine.iter()
                .any(|s| s.end < t.fault_start && s.outcome == Outcome::Decided),
            "{label} {mode:?}: no decided call before the fault"
        );
        for s in mine
            .iter()
            .filter(|s| s.start >= t.fault_start && s.end <= t.fault_end)
        {
            assert_eq!(
                s.outcome, failed,
                "{label} {mode:?}: during the fault: {s:?}"
            );
            during[i] += 1;
        }
        assert!(
            during[i] >= 3,
            "{label} {mode:?}: only {} calls during the fault",
            during[i]
        );
        let first = mine
            .iter()
            .filter(|s| s.start >= t.back && s.outcome == Outcome::Decided)
            .min_by_key(|s| s.end)
            .unwrap_or_else(|| panic!("{label} {mode:?}: never decided again\n{}", pair.logs()));
        let recovery = first.end - t.back;
        assert!(
            recovery < RECOVERY,
            "{label} {mode:?}: recovered after {recovery:?}"
        );
        recovery_ms[i] = recovery.as_millis();
        // once recovered it stays so: a rare later failure can only be a callout slower than the
        // timeout on a loaded machine (still the failure mode, checked above)
        let after: Vec<&&Sample> = mine.iter().filter(|s| s.start > first.end).collect();
        let ok = after
            .iter()
            .filter(|s| s.outcome == Outcome::Decided)
            .count();
        assert!(
            after.len() >= 5 && ok * 10 >= after.len() * 9,
            "{label} {mode:?}: after recovery only {ok} of {} decided: {after:?}",
            after.len()
        );
        late[i] = after.len() - ok;
    }
    // every call the state service decided is stored, and Envoy counted exactly those
    let decided: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.outcome == Outcome::Decided)
        .collect();
    let stored = pair.stored_sessions(operator).await;
    let lost: Vec<&str> = decided
        .iter()
        .map(|s| s.session.as_str())
        .filter(|s| !stored.contains(*s))
        .collect();
    assert!(
        lost.is_empty(),
        "{label}: acknowledged but not stored: {lost:?}"
    );
    for mode in [Mode::Closed, Mode::Open] {
        let n = decided.iter().filter(|s| s.mode == mode).count() as u64;
        assert_eq!(
            pair.counter(mode, "wasmcustom.llmfw.decision.allow").await,
            n,
            "{label} {mode:?}: Envoy's allow counter vs decided calls"
        );
    }
    let m = Measured {
        requests: samples.len(),
        during_fault: during,
        recovery_ms,
        late,
        decided: decided.len(),
        stored: stored.len(),
    };
    eprintln!(
        "{label}: {} requests; during the {:?} fault closed {} refused, open {} passed+warned; \
         decided again {} ms (closed) / {} ms (open) after the dependency was back \
         ({:?} later failures); {} decided, {} sessions stored, none lost",
        m.requests,
        t.fault_end - t.fault_start,
        m.during_fault[0],
        m.during_fault[1],
        m.recovery_ms[0],
        m.recovery_ms[1],
        m.late,
        m.decided,
        m.stored
    );
    m
}

/// `kill -9` of the state service during a burst (3 clients per Envoy, no pause), restart on the
/// same database.
async fn killed_during_burst(label: &str, store: Store) {
    let mut pair = pair(label, Some(store), None).await;
    let op = format!("op-{label}");
    let load = start_load(&pair, &op, 3, Duration::ZERO);
    load.wait_decided(40, Duration::from_secs(30)).await;
    pair.stack.kill_state();
    let fault_start = load.now();
    tokio::time::sleep(FAULT).await;
    let fault_end = load.now();
    pair.stack.start_state().await.unwrap();
    let back = load.now();
    let samples = recover_and_finish(load).await;
    let t = Timeline {
        fault_start,
        fault_end,
        back,
    };
    check(label, &pair, &op, &samples, &t).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_service_killed_during_burst_sqlite() {
    killed_during_burst("kill9-sqlite", Store::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_service_killed_during_burst_postgres() {
    killed_during_burst("kill9-postgres", Store::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_service_restarted_under_load() {
    let label = "restart";
    let mut pair = pair(label, Some(Store::Postgres), None).await;
    let op = "op-restart";
    let load = start_load(&pair, op, 2, Duration::from_millis(20));
    load.wait_decided(20, Duration::from_secs(30)).await;
    tokio::task::block_in_place(|| pair.stack.stop_state());
    let fault_start = load.now();
    tokio::time::sleep(FAULT).await;
    let fault_end = load.now();
    pair.stack.start_state().await.unwrap();
    let back = load.now();
    let samples = recover_and_finish(load).await;
    check(
        label,
        &pair,
        op,
        &samples,
        &Timeline {
            fault_start,
            fault_end,
            back,
        },
    )
    .await;
}

/// The service process goes and a listener that completes HTTP/2 but never answers holds its
/// port; then the real service comes back on the port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_service_hung_then_replaced() {
    let label = "hung";
    let mut pair = pair(label, Some(Store::Sqlite), None).await;
    let op = "op-hung";
    let load = start_load(&pair, op, 3, Duration::from_millis(20));
    load.wait_decided(20, Duration::from_secs(30)).await;
    pair.stack.kill_state();
    let hung = HungH2::bind(pair.stack.state_port).await.unwrap();
    let fault_start = load.now();
    tokio::time::sleep(FAULT).await;
    let fault_end = load.now();
    hung.close();
    pair.stack.start_state().await.unwrap();
    let back = load.now();
    let samples = recover_and_finish(load).await;
    check(
        label,
        &pair,
        op,
        &samples,
        &Timeline {
            fault_start,
            fault_end,
            back,
        },
    )
    .await;
    // every call during the hang waited for the callout timeout, not much longer. Envoy arms
    // its timers on the event loop's cached clock (millisecond resolution), so one fires up to
    // about a millisecond early by the client's clock (seen once: 499.91 ms for 500 ms); a call
    // failed fast (refused, reset) instead of timing out takes a few milliseconds at most.
    for s in samples
        .iter()
        .filter(|s| s.start >= fault_start && s.end <= fault_end)
    {
        assert!(
            s.end - s.start >= CALLOUT_TIMEOUT - Duration::from_millis(5),
            "answered before the timeout: {s:?}"
        );
        assert!(
            s.end - s.start < CALLOUT_TIMEOUT * 3,
            "waited past the timeout: {s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_service_slower_than_the_timeout() {
    let label = "slow";
    let real_port = free_port().unwrap();
    let proxy = DelayProxy::start(format!("127.0.0.1:{real_port}").parse().unwrap())
        .await
        .unwrap();
    let mut pair = pair(label, None, Some(proxy.addr.port())).await;
    pair.stack.state_port = real_port;
    pair.stack.database_url = Some(format!(
        "sqlite://{}",
        pair.stack.dir.join("state.db").display()
    ));
    pair.stack.start_state().await.unwrap();
    let op = "op-slow";
    let load = start_load(&pair, op, 3, Duration::from_millis(20));
    load.wait_decided(20, Duration::from_secs(30)).await;
    proxy.set_delay(CALLOUT_TIMEOUT * 3);
    let fault_start = load.now();
    tokio::time::sleep(FAULT).await;
    let fault_end = load.now();
    proxy.set_delay(Duration::ZERO);
    let back = load.now();
    let samples = recover_and_finish(load).await;
    check(
        label,
        &pair,
        op,
        &samples,
        &Timeline {
            fault_start,
            fault_end,
            back,
        },
    )
    .await;
    for s in samples
        .iter()
        .filter(|s| s.start >= fault_start && s.end <= fault_end)
    {
        assert!(
            s.end - s.start < CALLOUT_TIMEOUT * 3,
            "waited past the timeout: {s:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_and_restarted_under_load() {
    let label = "pg-restart";
    let pg = Arc::new(
        tokio::task::spawn_blocking(PrivatePg::start_new)
            .await
            .unwrap()
            .unwrap(),
    );
    let mut pair = pair(label, None, None).await;
    pair.stack.database_url = Some(pg.url());
    pair.stack.start_state().await.unwrap();
    let op = "op-pg";
    let load = start_load(&pair, op, 2, Duration::from_millis(20));
    load.wait_decided(20, Duration::from_secs(30)).await;
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.stop())
        .await
        .unwrap()
        .unwrap();
    let fault_start = load.now();
    tokio::time::sleep(FAULT).await;
    let fault_end = load.now();
    let p = pg.clone();
    tokio::task::spawn_blocking(move || p.start())
        .await
        .unwrap()
        .unwrap();
    let back = load.now();
    let samples = recover_and_finish(load).await;
    check(
        label,
        &pair,
        op,
        &samples,
        &Timeline {
            fault_start,
            fault_end,
            back,
        },
    )
    .await;
}
