//! Prometheus metrics: names as constants, a fixed label set, hand-rolled atomics, text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::engine::Action;

/// Counter: `Evaluate` calls answered (including retries and empty requests).
pub const EVALUATIONS_TOTAL: &str = "llmfw_state_evaluations_total";
/// Counter with label `action`: verdicts by action.
pub const ACTIONS_TOTAL: &str = "llmfw_state_actions_total";
/// Counter: store operations that failed.
pub const STORE_ERRORS_TOTAL: &str = "llmfw_state_store_errors_total";
/// Counter: events deleted by retention.
pub const PRUNED_EVENTS_TOTAL: &str = "llmfw_state_pruned_events_total";
/// Counter: `Evaluate` calls whose request id was stored before with other content (refused).
pub const REQUEST_ID_CONFLICTS_TOTAL: &str = "llmfw_state_request_id_conflicts_total";
/// Histogram: `Evaluate` latency in seconds.
pub const EVALUATE_SECONDS: &str = "llmfw_state_evaluate_seconds";

/// Histogram bucket upper bounds in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The service's metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    evaluations: AtomicU64,
    actions: [AtomicU64; 4],
    store_errors: AtomicU64,
    pruned_events: AtomicU64,
    request_id_conflicts: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Metrics {
    /// Counts one answered evaluation with its overall action.
    pub fn evaluation(&self, action: Action) {
        self.evaluations.fetch_add(1, Ordering::Relaxed);
        let i = Action::ALL.iter().position(|a| *a == action).unwrap_or(0);
        if let Some(c) = self.actions.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one store failure.
    pub fn store_error(&self) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts events deleted by retention.
    pub fn pruned(&self, events: u64) {
        self.pruned_events.fetch_add(events, Ordering::Relaxed);
    }

    /// Counts one request whose id was reused with other content.
    pub fn request_id_conflict(&self) {
        self.request_id_conflicts.fetch_add(1, Ordering::Relaxed);
    }

    /// Observes the latency of one `Evaluate`.
    pub fn observe(&self, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        for (bound, bucket) in BUCKETS.iter().zip(self.buckets.iter()) {
            if secs <= *bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Renders the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(out, "# HELP {EVALUATIONS_TOTAL} Evaluate calls answered.");
        let _ = writeln!(out, "# TYPE {EVALUATIONS_TOTAL} counter");
        let _ = writeln!(out, "{EVALUATIONS_TOTAL} {}", load(&self.evaluations));
        let _ = writeln!(out, "# HELP {ACTIONS_TOTAL} Evaluate verdicts by action.");
        let _ = writeln!(out, "# TYPE {ACTIONS_TOTAL} counter");
        for (a, c) in Action::ALL.iter().zip(self.actions.iter()) {
            let _ = writeln!(
                out,
                "{ACTIONS_TOTAL}{{action=\"{}\"}} {}",
                a.as_str(),
                load(c)
            );
        }
        let _ = writeln!(
            out,
            "# HELP {STORE_ERRORS_TOTAL} Store operations that failed."
        );
        let _ = writeln!(out, "# TYPE {STORE_ERRORS_TOTAL} counter");
        let _ = writeln!(out, "{STORE_ERRORS_TOTAL} {}", load(&self.store_errors));
        let _ = writeln!(
            out,
            "# HELP {PRUNED_EVENTS_TOTAL} Events deleted by retention."
        );
        let _ = writeln!(out, "# TYPE {PRUNED_EVENTS_TOTAL} counter");
        let _ = writeln!(out, "{PRUNED_EVENTS_TOTAL} {}", load(&self.pruned_events));
        let _ = writeln!(
            out,
            "# HELP {REQUEST_ID_CONFLICTS_TOTAL} Evaluate calls refused: request id reused with other tool calls."
        );
        let _ = writeln!(out, "# TYPE {REQUEST_ID_CONFLICTS_TOTAL} counter");
        let _ = writeln!(
            out,
            "{REQUEST_ID_CONFLICTS_TOTAL} {}",
            load(&self.request_id_conflicts)
        );
        let _ = writeln!(
            out,
            "# HELP {EVALUATE_SECONDS} Evaluate latency in seconds."
        );
        let _ = writeln!(out, "# TYPE {EVALUATE_SECONDS} histogram");
        for (bound, b) in BUCKETS.iter().zip(self.buckets.iter()) {
            let _ = writeln!(
                out,
                "{EVALUATE_SECONDS}_bucket{{le=\"{bound}\"}} {}",
                load(b)
            );
        }
        let count = load(&self.count);
        let _ = writeln!(out, "{EVALUATE_SECONDS}_bucket{{le=\"+Inf\"}} {count}");
        let sum = load(&self.sum_micros) as f64 / 1e6;
        let _ = writeln!(out, "{EVALUATE_SECONDS}_sum {sum}");
        let _ = writeln!(out, "{EVALUATE_SECONDS}_count {count}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_all_series() {
        let m = Metrics::default();
        m.evaluation(Action::Block);
        m.store_error();
        m.pruned(7);
        m.request_id_conflict();
        m.observe(Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("llmfw_state_evaluations_total 1\n"));
        assert!(text.contains("llmfw_state_actions_total{action=\"block\"} 1\n"));
        assert!(text.contains("llmfw_state_actions_total{action=\"allow\"} 0\n"));
        assert!(text.contains("llmfw_state_store_errors_total 1\n"));
        assert!(text.contains("llmfw_state_pruned_events_total 7\n"));
        assert!(text.contains("llmfw_state_request_id_conflicts_total 1\n"));
        assert!(text.contains("llmfw_state_evaluate_seconds_bucket{le=\"0.0025\"} 0\n"));
        assert!(text.contains("llmfw_state_evaluate_seconds_bucket{le=\"0.005\"} 1\n"));
        assert!(text.contains("llmfw_state_evaluate_seconds_count 1\n"));
    }
}
