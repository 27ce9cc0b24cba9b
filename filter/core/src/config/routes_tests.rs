use super::*;
use crate::config::Config;
use serde_json::Value;

const FOUR_ROUTES: &str = r#"{"routes":[
    {"path_prefix":"/v1/chat/completions","format":"openai_chat"},
    {"path_suffix":"/chat/completions","format":"openai_chat"},
    {"path_prefix":"/v1/responses","format":"openai_responses"},
    {"path_suffix":"/responses","format":"openai_responses"},
    {"path_prefix":"/v1/messages","format":"anthropic"},
    {"path_suffix":"/messages","format":"anthropic"},
    {"path_prefix":"/mcp","format":"mcp"}]}"#;

fn cases() -> Vec<Value> {
    include_str!("../../testdata/paths.jsonl")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v.get("_comment").is_none())
        .collect()
}

#[test]
fn every_odd_path_form_normalises_to_its_route() {
    let cases = cases();
    assert!(cases.len() > 60, "{}", cases.len());
    for case in cases {
        let path = case["path"].as_str().unwrap();
        assert_eq!(
            normalise(path),
            case["normalised"].as_str().unwrap(),
            "{case}"
        );
    }
}

#[test]
fn every_odd_path_form_is_inspected_in_its_format() {
    let cfg = Config::from_json(FOUR_ROUTES.as_bytes()).unwrap();
    let defaults = Config::from_json(b"{}").unwrap();
    for case in cases() {
        let path = case["path"].as_str().unwrap();
        let want = Format::from_name(case["format"].as_str().unwrap()).unwrap();
        match cfg.routes.choose(path) {
            RouteChoice::Inspect(r) => assert_eq!(r.format, want, "{case}"),
            other => panic!("{case}: {other:?}"),
        }
        // The default routes cover every LLM form (MCP needs a configured route).
        match defaults.routes.choose(path) {
            RouteChoice::Inspect(r) => assert_eq!(r.format, want, "{case}"),
            RouteChoice::Refuse if want == Format::Mcp => {}
            other => panic!("defaults, {case}: {other:?}"),
        }
    }
}

#[test]
fn normal_form_details() {
    for (raw, want) in [
        ("", "/"),
        ("/", "/"),
        ("?/v1/chat/completions", "/"),
        ("/..", "/"),
        ("/a/b/../../..", "/"),
        ("/%2e/v1", "/v1"),
        ("/v1/%3Fx", "/v1/%3fx"), // an encoded `?` stays a character of the segment
        ("/v1/%zz/%4", "/v1/%zz/%4"), // broken escapes stay as they are
        ("/v1/%25%32%46x", "/v1/x"), // `%252F` spelled with escapes: still a slash
        ("/v1/caf%C3%A9", "/v1/caf%c3%a9"), // non-ASCII escapes are not decoded
        ("/v1/chat;a/completions;b;c", "/v1/chat/completions"),
        ("/;x/v1", "/v1"),
        ("/v1/chat#/mcp", "/v1/chat"),
    ] {
        assert_eq!(normalise(raw), want, "{raw:?}");
    }
}

#[test]
fn prefix_and_suffix_match_whole_normalised_paths() {
    let cfg = Config::from_json(
        br#"{"routes":[{"path_suffix":"/chat/completions/","format":"openai_chat"},
                       {"path_prefix":"/V1/Messages","format":"anthropic"}]}"#,
    )
    .unwrap();
    assert_eq!(
        cfg.routes.routes[0].path,
        PathMatch::Suffix("/chat/completions".to_owned())
    );
    assert!(cfg
        .route_for("/openai/deployments/d/chat/completions")
        .is_some());
    assert!(cfg.route_for("/v1/xchat/completions").is_none());
    assert!(cfg.route_for("/v1/messages/count_tokens").is_some());
    assert!(cfg.route_for("/v2/messages").is_none());
}

#[test]
fn unmatched_paths_follow_the_config() {
    let refuse = Config::from_json(b"{}").unwrap();
    assert_eq!(refuse.routes.choose("/v1/embeddings"), RouteChoice::Refuse);
    assert_eq!(refuse.routes.refusal_format(), Format::OpenAiChat);

    let pass = Config::from_json(br#"{"unmatched_path":"pass"}"#).unwrap();
    assert_eq!(pass.routes.choose("/v1/embeddings"), RouteChoice::Pass);

    let inspect = Config::from_json(
        br#"{"routes":[{"path_prefix":"/mcp","format":"mcp"}],"unmatched_path":"inspect_as:anthropic"}"#,
    )
    .unwrap();
    assert_eq!(
        inspect.routes.choose("/v1/complete"),
        RouteChoice::InspectAs(Format::Anthropic)
    );
    assert_eq!(inspect.routes.refusal_format(), Format::Anthropic);
    let mcp = Config::from_json(br#"{"routes":[{"path_prefix":"/mcp","format":"mcp"}]}"#).unwrap();
    assert_eq!(mcp.routes.refusal_format(), Format::Mcp);
}

#[test]
fn pass_paths_match_at_a_segment_boundary_and_never_shadow_a_route() {
    let cfg = Config::from_json(
        br#"{"routes":[{"path_prefix":"/v1/chat/completions","format":"openai_chat"}],
             "pass_paths":["/v1/models","/V1/"]}"#,
    )
    .unwrap();
    assert_eq!(cfg.routes.choose("/v1/models"), RouteChoice::Pass);
    assert_eq!(cfg.routes.choose("/v1//Models/gpt-4o?x"), RouteChoice::Pass);
    assert_eq!(cfg.routes.choose("/v1/modelsx"), RouteChoice::Pass); // under "/v1"
    assert!(matches!(
        cfg.routes.choose("/v1/chat/completions"),
        RouteChoice::Inspect(_)
    ));
    assert_eq!(cfg.routes.choose("/v2/models"), RouteChoice::Refuse);
    let narrow = Config::from_json(br#"{"pass_paths":["/v1/models"]}"#).unwrap();
    assert_eq!(narrow.routes.choose("/v1/modelsx"), RouteChoice::Refuse);
}

#[test]
fn route_config_errors_name_the_field() {
    for (json, needle) in [
        (r#"{"routes":[{"format":"openai_chat"}]}"#, "routes[0]"),
        (
            r#"{"routes":[{"path_prefix":"/a","path_suffix":"/b"}]}"#,
            "exactly one of path_prefix and path_suffix",
        ),
        (
            r#"{"routes":[{"path_suffix":"chat"}]}"#,
            "routes[0].path_suffix must start with '/'",
        ),
        (
            r#"{"routes":[{"path_prefix":""}]}"#,
            "routes[0].path_prefix must start with '/'",
        ),
        (
            r#"{"routes":[{"path_prefix":"//./"}]}"#,
            "at least one path segment",
        ),
        (
            r#"{"unmatched_path":"inspect_as:soap"}"#,
            "unmatched_path must be",
        ),
        (r#"{"unmatched_path":"allow"}"#, "unmatched_path must be"),
        (
            r#"{"pass_paths":["v1/models"]}"#,
            "pass_paths[0] must start with '/'",
        ),
    ] {
        let err = Config::from_json(json.as_bytes()).unwrap_err().to_string();
        assert!(err.contains(needle), "{json}: {err}");
    }
}
