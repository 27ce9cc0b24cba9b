#![no_main]
libfuzzer_sys::fuzz_target!(
    // The plugin config is compiled once per VM: outside the timed inputs (`-timeout`).
    init: llmfw_core::fuzzing::exchange(b""),
    |data: &[u8]| llmfw_core::fuzzing::exchange(data)
);
