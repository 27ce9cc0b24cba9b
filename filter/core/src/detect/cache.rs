//! Per-VM cache of text scans. Agents resend the whole conversation every turn (system prompt,
//! tool definitions, every earlier message and tool result), so most texts of a request were
//! already scanned on an earlier turn. The findings of [`super::Detector::scan_text`] are a pure
//! function of (channel, text) under one compiled detector, so they can be kept and reused.
//!
//! - Key: a 64-bit foldhash (`hashbrown`'s default hasher) of (channel, text). The entry also
//!   keeps the text itself and a hit requires the channel and the text to be equal, so a hash
//!   collision is a miss, never a wrong verdict (an attacker cannot make a malicious text reuse a
//!   benign text's findings). The hash is not keyed with a secret — in wasm foldhash seeds itself
//!   from addresses, which are fixed, as the fixed-key SipHash used before was — so colliding
//!   texts could be precomputed; all they can do is evict each other (a scan, as without cache).
//!   The maps keep std's randomly keyed hasher for these 64-bit keys, so bucket placement cannot
//!   be steered into long probe sequences.
//! - Bounded: two generations of at most half the byte budget each (text bytes plus
//!   [`ENTRY_OVERHEAD`] per entry). When the current generation is full it becomes the previous
//!   one and the old previous one is dropped; a hit in the previous generation moves the entry
//!   forward. So entries used every turn stay, and memory never exceeds the budget. A text
//!   larger than half the budget is never cached.
//! - Lives in the [`super::Detector`], so a new plugin config starts with an empty cache, and
//!   each Envoy worker's VM has its own (no sharing across workers, no locking contention).

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::{Arc, Mutex};

use hashbrown::DefaultHashBuilder;

use super::{Channel, Finding};

/// Bytes counted per entry on top of its text (key, channel, findings, map slot).
pub const ENTRY_OVERHEAD: usize = 128;

/// Default byte budget of the scan cache (`detect.scan_cache_bytes`).
pub const DEFAULT_SCAN_CACHE_BYTES: usize = 4 * 1024 * 1024;

struct Entry {
    channel: Channel,
    text: Box<str>,
    findings: Arc<[Finding]>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<u64, Entry>,
    previous: HashMap<u64, Entry>,
    current_bytes: usize,
    stats: CacheStats,
}

/// Counters of one cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to scan.
    pub misses: u64,
    /// Entries dropped with an old generation.
    pub evictions: u64,
    /// Entries held now (both generations).
    pub entries: usize,
    /// Bytes accounted now (both generations).
    pub bytes: usize,
}

/// The scan cache (see the module docs). Cloning gives an empty cache with the same budget.
pub struct ScanCache {
    budget: usize,
    hasher: DefaultHashBuilder,
    inner: Mutex<Generations>,
}

impl fmt::Debug for ScanCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanCache")
            .field("budget", &self.budget)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Clone for ScanCache {
    fn clone(&self) -> ScanCache {
        ScanCache::new(self.budget)
    }
}

fn cost(text: &str) -> usize {
    text.len() + ENTRY_OVERHEAD
}

impl ScanCache {
    /// A cache holding at most `budget` bytes; 0 disables it.
    pub fn new(budget: usize) -> ScanCache {
        ScanCache {
            budget,
            hasher: DefaultHashBuilder::default(),
            inner: Mutex::new(Generations::default()),
        }
    }

    /// The byte budget.
    pub fn budget(&self) -> usize {
        self.budget
    }

    fn key(&self, channel: Channel, text: &str) -> u64 {
        self.hasher.hash_one((channel, text))
    }

    /// The findings for (channel, text): from the cache, or computed by `scan` and kept.
    pub fn get_or_scan(
        &self,
        channel: Channel,
        text: &str,
        scan: impl FnOnce() -> Vec<Finding>,
    ) -> Arc<[Finding]> {
        let half = self.budget / 2;
        if cost(text) > half {
            return scan().into();
        }
        let k = self.key(channel, text);
        if let Some(found) = self.lookup(k, channel, text) {
            return found;
        }
        let findings: Arc<[Finding]> = scan().into();
        self.insert(k, channel, text, Arc::clone(&findings));
        findings
    }

    fn lookup(&self, k: u64, channel: Channel, text: &str) -> Option<Arc<[Finding]>> {
        // A poisoned lock (a panic elsewhere; the filter denies panics) only disables the cache.
        let mut g = self.inner.lock().ok()?;
        let same = |e: &Entry| e.channel == channel && &*e.text == text;
        if let Some(e) = g.current.get(&k).filter(|e| same(e)) {
            let found = Arc::clone(&e.findings);
            g.stats.hits += 1;
            return Some(found);
        }
        match g.previous.remove(&k) {
            Some(e) if same(&e) => {
                let found = Arc::clone(&e.findings);
                g.stats.hits += 1;
                g.stats.entries -= 1;
                g.stats.bytes -= cost(&e.text);
                Self::put(&mut g, self.budget / 2, k, e);
                Some(found)
            }
            other => {
                if let Some(e) = other {
                    // Same hash, other text: keep it where it was.
                    g.previous.insert(k, e);
                }
                g.stats.misses += 1;
                None
            }
        }
    }

    fn insert(&self, k: u64, channel: Channel, text: &str, findings: Arc<[Finding]>) {
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        let e = Entry {
            channel,
            text: text.into(),
            findings,
        };
        Self::put(&mut g, self.budget / 2, k, e);
    }

    /// Puts an entry in the current generation, turning generations over first when it is full.
    fn put(g: &mut Generations, half: usize, k: u64, e: Entry) {
        let c = cost(&e.text);
        if g.current_bytes + c > half {
            let old = std::mem::take(&mut g.current);
            let dropped = std::mem::replace(&mut g.previous, old);
            g.stats.evictions += dropped.len() as u64;
            g.stats.entries -= dropped.len();
            g.stats.bytes -= dropped.values().map(|e| cost(&e.text)).sum::<usize>();
            g.current_bytes = 0;
        }
        if let Some(old) = g.current.insert(k, e) {
            // A colliding entry is replaced.
            g.current_bytes -= cost(&old.text);
            g.stats.entries -= 1;
            g.stats.bytes -= cost(&old.text);
        }
        g.current_bytes += c;
        g.stats.entries += 1;
        g.stats.bytes += c;
    }

    /// Counters.
    pub fn stats(&self) -> CacheStats {
        self.inner.lock().map(|g| g.stats).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
