//! Heap of one filter VM, natively: live and peak bytes after compiling the plugin config and
//! after traffic (the benches' inputs). In the wasm VM, linear memory grows to the peak and never
//! shrinks, so the peak is what a VM costs (pointers are 4 bytes there, so wasm needs somewhat
//! less than these native numbers).
//! `cargo run --release -p llmfw-core --example heap [plugin-config.json]`
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

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
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

fn main() {
    if std::env::args().nth(1).as_deref() == Some("--patterns") {
        return patterns();
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
