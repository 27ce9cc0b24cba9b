//! Retention: events older than the configured age are deleted; sessions, operator profiles,
//! targets, the campaign graph, approvals and the audit log keep their summaries (phase
//! high-water marks, counters). Budget counters go once they are older than both the retention
//! and every budget window (they can no longer count).

use std::sync::Arc;
use std::time::Duration;

use crate::engine::EngineConfig;
use crate::metrics::Metrics;
use crate::store::{PruneOutcome, Store, StoreError};

/// Default retention of events: 30 days.
pub const DEFAULT_RETENTION_HOURS: u64 = 720;

/// The cut-offs for a prune at `now_ms`: `(events_before_ms, counters_before_ms)`.
pub fn cutoffs(cfg: &EngineConfig, retention: Duration, now_ms: i64) -> (i64, i64) {
    let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    let events_before = now_ms.saturating_sub(ms(retention));
    // a counter bucket counts while any window ending now reaches it
    let longest = cfg
        .budgets
        .iter()
        .map(|b| {
            Duration::from_secs(b.window_s) + Duration::from_millis(b.bucket_ms().unsigned_abs())
        })
        .max()
        .unwrap_or_default();
    let counters_before = now_ms.saturating_sub(ms(retention.max(longest)));
    (events_before, counters_before)
}

/// Prunes once at `now_ms` (Unix ms, wall clock).
pub async fn prune_once(
    store: &dyn Store,
    cfg: &EngineConfig,
    retention: Duration,
    now_ms: i64,
) -> Result<PruneOutcome, StoreError> {
    let (events_before, counters_before) = cutoffs(cfg, retention, now_ms);
    store.prune(events_before, counters_before).await
}

/// Wall-clock now in Unix ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Prunes every `interval` (the first time one interval after the start) until `stop` resolves.
pub async fn run(
    store: Arc<dyn Store>,
    cfg: Arc<EngineConfig>,
    metrics: Arc<Metrics>,
    retention: Duration,
    interval: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    let interval = interval.max(Duration::from_millis(10));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = ticks.tick() => {}
        }
        match prune_once(store.as_ref(), &cfg, retention, now_ms()).await {
            Ok(out) => {
                metrics.pruned(out.events);
                if out.events > 0 || out.budget_counters > 0 {
                    tracing::info!(
                        events = out.events,
                        budget_counters = out.budget_counters,
                        "retention pruned"
                    );
                }
            }
            Err(e) => {
                metrics.store_error();
                tracing::warn!(error = %e, "retention prune failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_outlive_the_longest_budget_window() {
        let cfg = EngineConfig::default();
        let hour = Duration::from_secs(3600);
        let now = 1_000_000_000_000;
        let (events, counters) = cutoffs(&cfg, hour, now);
        assert_eq!(events, now - 3_600_000);
        // default window 24 h + one 1 h bucket
        assert_eq!(counters, now - 25 * 3_600_000);
        let (events, counters) = cutoffs(&cfg, 30 * 24 * hour, now);
        assert_eq!(events, counters);
    }
}
