//! The per-VM wasm memory gauge `wasmcustom.llmfw.vm.<n>.memory_bytes`: the size of this VM's
//! linear memory (`memory.size` × 64 KiB). Linear memory only grows, so the gauge is set when
//! the size changed, checked at the end of every stream (`on_log`, which Envoy calls anyway):
//! one instruction per stream, a hostcall only on growth.
//!
//! Envoy gives all VMs one metric per name, so each VM numbers itself with a compare-and-swap
//! counter in shared data ([`metrics::VM_SEQUENCE_KEY`]). The main thread's VM starts before the
//! workers' VMs are cloned, so the first write (no CAS yet) does not race.

use std::cell::Cell;

use llmfw_core::metrics;
use proxy_wasm::hostcalls;
use proxy_wasm::types::{LogLevel, MetricType};

/// Bytes of linear memory of this VM (0 when not running as wasm).
pub fn linear_memory_bytes() -> usize {
    #[cfg(target_arch = "wasm32")]
    {
        core::arch::wasm32::memory_size::<0>().saturating_mul(65536)
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        0
    }
}

/// This VM's number, taken from the shared counter (None when shared data misbehaves).
fn take_vm_number() -> Option<u32> {
    for _ in 0..64 {
        let (value, cas) = hostcalls::get_shared_data(metrics::VM_SEQUENCE_KEY).ok()?;
        let n = value
            .as_deref()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0);
        let next = n.saturating_add(1).to_string();
        if hostcalls::set_shared_data(metrics::VM_SEQUENCE_KEY, Some(next.as_bytes()), cas).is_ok()
        {
            return Some(n);
        }
    }
    None
}

/// The gauge of this VM.
#[derive(Default)]
pub struct MemoryGauge {
    vm: Option<u32>,
    id: Option<u32>,
    last: Cell<usize>,
}

impl MemoryGauge {
    /// Numbers this VM and defines its gauge; failures only disable the gauge (logged).
    pub fn define() -> MemoryGauge {
        let vm = take_vm_number();
        let id = vm.and_then(|vm| {
            let name = metrics::vm_memory_gauge(vm);
            match hostcalls::define_metric(MetricType::Gauge, &name) {
                Ok(id) => Some(id),
                Err(e) => {
                    let _ = hostcalls::log(
                        LogLevel::Warn,
                        &format!("metric definition failed name={name} status={e:?}"),
                    );
                    None
                }
            }
        });
        let gauge = MemoryGauge {
            vm,
            id,
            last: Cell::new(0),
        };
        gauge.update();
        gauge
    }

    /// Sets the gauge when the linear memory grew since the last call.
    pub fn update(&self) {
        let now = linear_memory_bytes();
        if now == self.last.get() {
            return;
        }
        self.last.set(now);
        if let Some(id) = self.id {
            let _ = hostcalls::record_metric(id, u64::try_from(now).unwrap_or(u64::MAX));
        }
        let _ = hostcalls::log(
            LogLevel::Debug,
            &format!(
                "wasm memory vm={} bytes={now}",
                self.vm.map_or(-1, i64::from)
            ),
        );
    }
}
