use super::*;
use crate::detect::Channel;

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    config: serde_json::Value,
    error: Option<String>,
}

#[test]
fn config_cases_from_testdata() {
    let data = include_str!("../../testdata/config_cases.jsonl");
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let case: Case = serde_json::from_str(line).unwrap();
        let result = Config::from_json(case.config.to_string().as_bytes());
        match (&case.error, result) {
            (None, Ok(_)) => {}
            (None, Err(e)) => panic!("{}: unexpected error {e}", case.name),
            (Some(want), Ok(_)) => panic!("{}: expected error containing {want:?}", case.name),
            (Some(want), Err(e)) => {
                assert!(
                    e.to_string().contains(want.as_str()),
                    "{}: {e} does not contain {want:?}",
                    case.name
                )
            }
        }
    }
}

#[test]
fn defaults() {
    let cfg = Config::from_json(b"").unwrap();
    assert_eq!(cfg.routes.routes.len(), super::routes::DEFAULT_ROUTES.len());
    assert_eq!(
        cfg.routes.routes[0].path,
        super::PathMatch::Prefix("/v1/chat/completions".to_owned())
    );
    assert_eq!(cfg.routes.unmatched, super::UnmatchedPath::Refuse);
    assert_eq!(cfg.identity.operator, "x-llmfw-operator");
    assert_eq!(cfg.identity.session, "x-llmfw-session");
    assert_eq!(cfg.identity.tenant, "x-llmfw-tenant");
    assert!(cfg.identity.operator_claim.is_none());
    assert!(cfg.state_service.is_none());
    assert!(cfg.deny.is_empty());
    assert_eq!(cfg.max_body_bytes, 1_048_576);
}

#[test]
fn a_detect_section_keeps_what_it_does_not_name_at_its_default() {
    // Detection and the learned detector (tool results only) are on unless a field says
    // otherwise, with or without a `detect` section (a section that only named the model once
    // switched detection off).
    for json in [
        &br#"{}"#[..],
        br#"{"detect":{}}"#,
        br#"{"detect":{"model":{}}}"#,
    ] {
        let cfg = Config::from_json(json).unwrap();
        assert!(
            cfg.detect.config().enabled,
            "{}",
            String::from_utf8_lossy(json)
        );
        let model = &cfg.detect.config().model;
        assert!(model.enabled, "{}", String::from_utf8_lossy(json));
        assert_eq!(model.threshold(Channel::ToolResult), Some(0.30));
        assert_eq!(model.threshold(Channel::User), None);
        assert_eq!(model.threshold(Channel::ToolDefinition), None);
    }
    let cfg = Config::from_json(br#"{"detect":{"model":{"enabled":false}}}"#).unwrap();
    assert!(cfg.detect.config().enabled && !cfg.detect.config().model.enabled);
    assert_eq!(
        cfg.detect.config().model.threshold(Channel::ToolResult),
        None
    );
}

#[test]
fn state_service_defaults_and_lowercase_headers() {
    let cfg = Config::from_json(br#"{"state_service":{},"identity":{"operator_header":"X-Op"}}"#)
        .unwrap();
    let s = cfg.state_service.unwrap();
    assert_eq!(s.cluster, "llmfw_state");
    assert_eq!(s.timeout_ms, 200);
    assert_eq!(s.failure_mode, FailureMode::Closed);
    assert_eq!(cfg.identity.operator, "x-op");
}

#[test]
fn operator_from_jwt_claim() {
    let cfg = Config::from_json(br#"{"identity":{"operator_from_jwt":{}}}"#).unwrap();
    let claim = cfg.identity.operator_claim.unwrap();
    assert_eq!(
        claim.property_path(),
        [
            "metadata",
            "filter_metadata",
            "envoy.filters.http.jwt_authn",
            "jwt_payload",
            "sub"
        ]
    );
    let cfg = Config::from_json(
        br#"{"identity":{"operator_from_jwt":{"payload_in_metadata":"p","claim":"email"}}}"#,
    )
    .unwrap();
    let claim = cfg.identity.operator_claim.unwrap();
    assert_eq!(claim.property_path()[3..], ["p", "email"]);
    for bad in [
        r#"{"identity":{"operator_from_jwt":{"claim":""}}}"#,
        r#"{"identity":{"operator_from_jwt":{"payload_in_metadata":"a\u0007b"}}}"#,
    ] {
        let err = Config::from_json(bad.as_bytes()).unwrap_err().to_string();
        assert!(err.contains("operator_from_jwt"), "{bad}: {err}");
    }
    let err = Config::from_json(br#"{"identity":{"operator_from_jwt":{"issuer":"x"}}}"#)
        .unwrap_err()
        .to_string();
    assert!(err.contains("issuer"), "{err}");
}

#[test]
fn route_matching_by_prefix() {
    let cfg = Config::from_json(b"{}").unwrap();
    assert!(cfg.route_for("/v1/chat/completions?x=1").is_some());
    assert!(cfg.route_for("/v1/embeddings").is_none());
    assert_eq!(
        cfg.routes.choose("/v1/embeddings"),
        super::RouteChoice::Refuse
    );
}

#[test]
fn eval_policy_is_valid() {
    let cfg = Config::from_json(include_bytes!("../../../../tests/eval/policy.json")).unwrap();
    assert!(cfg.tools.scope.contains_host("10.1.2.3"));
    assert!(cfg.tools.scope.contains_host("db.testlab.local"));
    assert!(!cfg.tools.scope.contains_host("example.com"));
    assert!(cfg.deny.matches("delete_user").is_some());
}
