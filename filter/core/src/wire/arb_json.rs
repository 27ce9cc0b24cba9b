//! Test support: arbitrary nested JSON whose keys and strings are drawn mostly from the words the
//! wire formats look for, so random values reach the extraction and editing paths.

use proptest::prelude::*;
use serde_json::{Map, Value};

const WORDS: &[&str] = &[
    "type",
    "role",
    "content",
    "text",
    "input",
    "output",
    "instructions",
    "messages",
    "system",
    "tools",
    "name",
    "description",
    "parameters",
    "input_schema",
    "inputSchema",
    "arguments",
    "call_id",
    "id",
    "tool_use_id",
    "message",
    "function_call",
    "function_call_output",
    "tool_use",
    "tool_result",
    "user",
    "assistant",
    "developer",
    "output_text",
    "input_text",
    "stop_reason",
    "jsonrpc",
    "method",
    "params",
    "result",
    "tools/call",
    "structuredContent",
    "contents",
    "0",
    "",
];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// Nested JSON values, up to a few levels deep.
pub(crate) fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..300).prop_map(Value::from),
        word().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((word(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<String, Value>>())),
        ]
    })
}
