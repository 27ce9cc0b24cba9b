//! Envoy bootstrap for the e2e stack: the same shape as `envoy/envoy.yaml`, on free ports and
//! with the plugin config of the test.

use std::path::Path;

/// Ports and paths of one Envoy instance.
pub struct EnvoyLayout<'a> {
    pub listen_port: u16,
    pub admin_port: u16,
    pub upstream_port: u16,
    pub state_port: u16,
    pub wasm: &'a Path,
}

/// Renders a static bootstrap with the llmfw filter configured by `plugin_config`.
pub fn bootstrap(layout: &EnvoyLayout<'_>, plugin_config: &serde_json::Value) -> String {
    // The plugin config travels as a JSON string inside YAML; a JSON string literal is valid YAML.
    let config = serde_json::Value::String(plugin_config.to_string()).to_string();
    let EnvoyLayout { listen_port, admin_port, upstream_port, state_port, wasm } = layout;
    let wasm = wasm.display();
    format!(
        r#"admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin_port}}}}}
static_resources:
  listeners:
  - name: llm_ingress
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listen_port}}}}}
    per_connection_buffer_limit_bytes: 2097152
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: llm_ingress
          route_config:
            virtual_hosts:
            - name: llm
              domains: ["*"]
              routes:
              - match: {{prefix: "/"}}
                route: {{cluster: llm_upstream, timeout: 30s}}
          http_filters:
          - name: envoy.filters.http.wasm
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm
              config:
                name: llmfw
                root_id: llmfw
                failure_policy: FAIL_RELOAD
                configuration:
                  "@type": type.googleapis.com/google.protobuf.StringValue
                  value: {config}
                vm_config:
                  vm_id: llmfw
                  runtime: envoy.wasm.runtime.v8
                  code: {{local: {{filename: "{wasm}"}}}}
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:
  - name: llm_upstream
    type: STATIC
    connect_timeout: 1s
    per_connection_buffer_limit_bytes: 2097152
    load_assignment:
      cluster_name: llm_upstream
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {upstream_port}}}}}}}
  - name: llmfw_state
    type: STATIC
    connect_timeout: 1s
    typed_extension_protocol_options:
      envoy.extensions.upstreams.http.v3.HttpProtocolOptions:
        "@type": type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions
        explicit_http_config:
          http2_protocol_options: {{}}
    load_assignment:
      cluster_name: llmfw_state
      endpoints:
      - lb_endpoints:
        - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {state_port}}}}}}}
"#
    )
}
