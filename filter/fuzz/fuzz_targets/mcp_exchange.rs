#![no_main]
libfuzzer_sys::fuzz_target!(
    // Compile the plugin config (detector rules) before the first timed input: fuzzing runs with
    // `-timeout`, and compilation is per VM, not per request.
    init: llmfw_core::fuzzing::mcp_exchange(b""),
    |data: &[u8]| llmfw_core::fuzzing::mcp_exchange(data)
);
