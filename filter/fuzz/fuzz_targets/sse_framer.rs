#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assert!(llmfw_core::fuzzing::sse_framer_round_trip(data), "framer lost or changed bytes");
});
