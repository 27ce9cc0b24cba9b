//! TLS and mutual TLS between the filter's callouts and the state service, through the real
//! Envoy: `envoy/examples/state-mtls/envoy.yaml` (an UpstreamTlsContext with SNI, the CA and a
//! client certificate) against `llmfw-state --tls-cert --tls-key --tls-client-ca`, with fresh
//! certificates from the example's `make-certs.sh` in the test's scratch dir.
//!
//! Checked: callouts work over mTLS (the call is decided by the service and stored); under mTLS
//! an Envoy without a client certificate, and one speaking plaintext, are refused — their calls
//! get the closed failure mode; with server-only TLS the Envoy without a client certificate is
//! served.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use llmfw_tests::envoy::{bootstrap, bootstrap_from, EnvoyLayout};
use llmfw_tests::paths::{free_port, repo_root, wasm_module};
use llmfw_tests::process::{wait_until, Proc};
use llmfw_tests::stack::{default_plugin_config, envoy_command};
use llmfw_tests::{Stack, StackOptions};
use serde_json::{json, Value};

const EXAMPLE: &str = "envoy/examples/state-mtls";
/// The client-certificate lines of the example's TLS context.
const CLIENT_CERT: &str = "            tls_certificates:
              - certificate_chain: { filename: envoy/examples/state-mtls/certs/client.pem }
                private_key: { filename: envoy/examples/state-mtls/certs/client.key }
";

/// Another Envoy on the stack's upstream and state-service port, from the config text `yaml`
/// (written under `root/envoy/…` so its `filename: envoy/…` paths resolve into `root`), or the
/// plaintext `envoy/envoy.yaml`.
async fn extra_envoy(stack: &Stack, root: &Path, name: &str, yaml: Option<&str>) -> (Proc, u16) {
    let wasm = wasm_module();
    let (listen, admin) = (free_port().unwrap(), free_port().unwrap());
    let layout = EnvoyLayout {
        listen_port: listen,
        admin_port: admin,
        upstream_port: stack.upstream_port,
        state_port: stack.state_port,
        wasm: &wasm,
    };
    let plugin = default_plugin_config("closed", &[]);
    let text = match yaml {
        Some(yaml) => {
            let path = root.join(EXAMPLE).join(format!("{name}.yaml"));
            std::fs::write(&path, yaml).unwrap();
            bootstrap_from(&path, &layout, &plugin).unwrap()
        }
        None => bootstrap(&layout, &plugin).unwrap(),
    };
    let config = stack.dir.join(format!("{name}.yaml"));
    std::fs::write(&config, text).unwrap();
    let proc = Proc::spawn(
        name,
        envoy_command(&config),
        &stack.dir.join(format!("{name}.log")),
    )
    .unwrap();
    let ready = format!("http://127.0.0.1:{admin}/ready");
    wait_until(name, Duration::from_secs(30), || {
        let u = ready.clone();
        async move { reqwest::get(u).await.is_ok_and(|r| r.status() == 200) }
    })
    .await
    .unwrap();
    (proc, listen)
}

/// Proposes `get_weather` through the Envoy on `port`: (passed, decision header, reasons/content).
async fn propose(port: u16, session: &str) -> (bool, Option<String>, String) {
    let tool = json!({"tool": "get_weather", "arguments": {"city": "Oslo"}});
    let body = json!({
        "model": "demo-model",
        "messages": [{"role": "user", "content": tool.to_string()}]
    });
    let r = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/v1/chat/completions"))
        .header("content-type", "application/json")
        .header("x-llmfw-operator", "op-tls")
        .header("x-llmfw-session", session)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let decision = r
        .headers()
        .get("x-llmfw-decision")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let v: Value = r.json().await.unwrap();
    let message = &v["choices"][0]["message"];
    let passed = message["tool_calls"][0]["function"]["name"] == "get_weather";
    (
        passed,
        decision,
        message["content"].as_str().unwrap_or_default().to_owned(),
    )
}

fn refused(r: &(bool, Option<String>, String)) -> bool {
    !r.0 && r.1.as_deref() == Some("block") && r.2.contains("state service unavailable")
}

fn tls_args(certs: &Path, mtls: bool) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec![
        "--tls-cert".into(),
        certs.join("server.pem").into(),
        "--tls-key".into(),
        certs.join("server.key").into(),
    ];
    if mtls {
        args.push("--tls-client-ca".into());
        args.push(certs.join("ca.pem").into());
    }
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callouts_over_mtls_and_clients_without_a_certificate_are_refused() {
    // the example config and fresh certificates, mirrored into a private "repository root"
    let scratch = llmfw_tests::paths::scratch_dir("tls-root").unwrap();
    let example_dir = scratch.join(EXAMPLE);
    let certs = example_dir.join("certs");
    std::fs::create_dir_all(&example_dir).unwrap();
    let out = Command::new(repo_root().join(EXAMPLE).join("make-certs.sh"))
        .arg(&certs)
        .env("CERT_DAYS", "2")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let yaml = std::fs::read_to_string(repo_root().join(EXAMPLE).join("envoy.yaml")).unwrap();
    assert_eq!(
        yaml.matches(CLIENT_CERT).count(),
        1,
        "the example's client certificate block"
    );
    let mtls_yaml = example_dir.join("envoy.yaml");
    std::fs::write(&mtls_yaml, &yaml).unwrap();

    let mut stack = Stack::start_with_envoy_config(
        StackOptions {
            label: "tls".to_owned(),
            plugin_config: default_plugin_config("closed", &[]),
            store: None,
            state_port: None,
        },
        &mtls_yaml,
    )
    .await
    .unwrap();
    stack.database_url = Some(format!("sqlite://{}", stack.dir.join("state.db").display()));
    stack.state_args = tls_args(&certs, true);
    stack.start_state().await.unwrap();
    let log = stack.state.as_ref().unwrap().log_text();
    assert!(
        log.contains("grpc_tls=\"mtls\"") || log.contains("grpc_tls=mtls"),
        "{log}"
    );

    // 1. over mTLS: decided by the service and stored
    let ok = propose(stack.listen_port, "s-mtls").await;
    assert!(
        ok.0 && ok.1.is_none(),
        "mTLS callout failed: {ok:?}\n{}",
        stack.logs()
    );
    assert_eq!(
        stack
            .envoy_counter("wasmcustom.llmfw.callout.failure")
            .await
            .unwrap(),
        0
    );
    let session = stack
        .admin_get("/v1/sessions/s-mtls?operator=op-tls")
        .await
        .unwrap();
    assert_eq!(session["session"]["event_count"], 1, "{session}");

    // 2. an Envoy without a client certificate, and a plaintext one, are refused
    let no_cert = yaml.replace(CLIENT_CERT, "");
    let (mut no_cert_envoy, no_cert_port) =
        extra_envoy(&stack, &scratch, "envoy-nocert", Some(&no_cert)).await;
    let (mut plain_envoy, plain_port) = extra_envoy(&stack, &scratch, "envoy-plain", None).await;
    let r = propose(no_cert_port, "s-nocert").await;
    assert!(
        refused(&r),
        "a client without a certificate was served: {r:?}"
    );
    let r = propose(plain_port, "s-plain").await;
    assert!(refused(&r), "a plaintext client was served: {r:?}");
    let r = propose(stack.listen_port, "s-mtls-2").await;
    assert!(r.0 && r.1.is_none(), "{r:?}");

    // 3. server-only TLS: the Envoy without a client certificate is served
    stack.stop_state();
    stack.state_args = tls_args(&certs, false);
    stack.start_state().await.unwrap();
    let r = propose(no_cert_port, "s-tls").await;
    assert!(
        r.0 && r.1.is_none(),
        "server-only TLS: {r:?}\n{}",
        no_cert_envoy.log_text()
    );
    let r = propose(plain_port, "s-plain-2").await;
    assert!(refused(&r), "a plaintext client was served over TLS: {r:?}");
    no_cert_envoy.kill();
    plain_envoy.kill();
    drop(stack);
    let _ = std::fs::remove_dir_all(&scratch);
}
