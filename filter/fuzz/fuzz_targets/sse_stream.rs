#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    assert!(llmfw_core::fuzzing::sse_stream_round_trip(data), "passed + released != input");
});
