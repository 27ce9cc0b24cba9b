#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| llmfw_core::fuzzing::sanitize_decode(data));
