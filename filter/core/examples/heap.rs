//! Heap of one filter VM, natively: live and peak bytes after compiling the plugin config and
//! after traffic (the benches' inputs). In the wasm VM, linear memory grows to the peak and never
//! shrinks, so the peak is what a VM costs (pointers are 4 bytes there, so wasm needs somewhat
//! less than these native numbers).
//! `cargo run --release -p llmfw-core --example heap [plugin-config.json]`; `-- --patterns`: each
//! rule regex alone; `-- --allocs`: heap allocations per exchange on the benches' inputs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use llmfw_core::config::Config;

#[path = "../benches/bodies.rs"]
mod bodies;
use bodies::*;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static COUNT: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            COUNT.fetch_add(1, Ordering::Relaxed);
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static A: Counting = Counting;

fn report(step: &str) {
    let mib = |n: usize| n as f64 / (1024.0 * 1024.0);
    println!(
        "{step:<48} live {:>7.2} MiB  peak {:>7.2} MiB",
        mib(LIVE.load(Ordering::Relaxed)),
        mib(PEAK.load(Ordering::Relaxed))
    );
}

/// Every regex of the rule files compiled alone: its live bytes and the peak while compiling.
fn patterns() {
    let files = [
        include_str!("../rules/patterns.json"),
        include_str!("../src/detect/data/patterns.json"),
        include_str!("../rules/secrets.json"),
        include_str!("../src/detect/data/secrets.json"),
        include_str!("../rules/arguments.json"),
        include_str!("../src/detect/data/arguments.json"),
        include_str!("../src/detect/data/cues.json"),
    ];
    let mut all = Vec::new();
    for f in files {
        let v: serde_json::Value = serde_json::from_str(f).unwrap();
        let mut stack = vec![v];
        while let Some(v) = stack.pop() {
            match v {
                serde_json::Value::Object(m) => {
                    if let (Some(id), Some(serde_json::Value::String(p))) =
                        (m.get("id").or(m.get("name")), m.get("pattern"))
                    {
                        all.push((id.to_string(), p.clone()));
                    }
                    stack.extend(m.into_iter().map(|(_, v)| v));
                }
                serde_json::Value::Array(a) => stack.extend(a),
                _ => {}
            }
        }
    }
    let mut rows = Vec::new();
    let mut kept = Vec::new();
    for (id, p) in &all {
        let (live0, _) = (LIVE.load(Ordering::Relaxed), ());
        PEAK.store(live0, Ordering::Relaxed);
        let re = regex::Regex::new(p).unwrap();
        let _ = re.is_match(&prose(4000));
        let live = LIVE.load(Ordering::Relaxed) - live0;
        let peak = PEAK.load(Ordering::Relaxed) - live0;
        rows.push((peak, live, id.clone()));
        kept.push(re);
    }
    rows.sort();
    let (mut tl, mut tp) = (0, 0);
    for (peak, live, id) in &rows {
        tl += live;
        tp = tp.max(*peak);
        println!("{:>9} live {:>9} peak  {id}", live, peak);
    }
    println!(
        "{} regexes, live {tl} bytes total, largest peak {tp}",
        rows.len()
    );
}

/// Allocations (and bytes allocated) per call of `work`, averaged over `n` calls after a warm-up.
fn allocs(name: &str, n: usize, work: &mut dyn FnMut(usize)) {
    work(usize::MAX);
    let (count, bytes) = (COUNT.load(Ordering::Relaxed), LIVE.load(Ordering::Relaxed));
    let before_peak = PEAK.swap(bytes, Ordering::Relaxed);
    for i in 0..n {
        work(i);
    }
    let per = (COUNT.load(Ordering::Relaxed) - count) as f64 / n as f64;
    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(bytes);
    PEAK.fetch_max(before_peak, Ordering::Relaxed);
    println!("{name:<58} {per:>8.1} allocations  peak +{peak:>8} bytes");
}

/// Heap allocations per exchange: the same work as `scripts/bench.sh` sends through Envoy
/// (default scan cache; inputs built before counting).
fn alloc_counts(config: &Arc<Config>) {
    let chat = chat_4k();
    let answer = text_response();
    let calls = tool_response();
    let short =
        br#"{"model":"demo","messages":[{"role":"user","content":"What is the weather?"}]}"#;
    let turns: Vec<Vec<u8>> = (0..101).map(|t| transcript_turn(t as u64)).collect();
    allocs(
        "chat_4k request + text answer (texts cached)",
        100,
        &mut |_| response_path(config, &chat, &answer),
    );
    allocs(
        "short request + answer with two tool calls",
        100,
        &mut |_| response_path(config, short, &calls),
    );
    allocs(
        "transcript_64k, last tool result new + text answer",
        100,
        &mut |i| response_path(config, &turns[i.min(100)], &answer),
    );
}

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--patterns") {
        return patterns();
    }
    if std::env::args().nth(1).as_deref() == Some("--allocs") {
        return alloc_counts(&Arc::new(Config::from_json(CONFIG_CACHED).unwrap()));
    }
    let raw = match std::env::args().nth(1) {
        Some(path) => std::fs::read(path).unwrap(),
        None => CONFIG_CACHED.to_vec(),
    };
    report("start");
    let config = Arc::new(Config::from_json(&raw).unwrap());
    report("config compiled");
    let chat = chat_4k();
    let answer = text_response();
    for _ in 0..3 {
        response_path(&config, &chat, &answer);
    }
    report("after chat_4k (3 exchanges)");
    for turn in 0..3 {
        response_path(&config, &transcript_turn(turn), &answer);
    }
    report("after transcript_64k (3 new turns)");
    response_path(&config, &chat, &tool_response());
    report("after a response with two tool calls");
    for turn in 3..2000 {
        request_path(&config, &transcript_turn(turn));
    }
    report("after 2000 transcript turns (scan cache full)");
}
