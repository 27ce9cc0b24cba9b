//! `llmfw.state.v1`: the protocol between the llmfw Envoy filter and the llmfw state service.
//!
//! [`v1`] holds the prost messages; they depend on nothing but `prost`, so the wasm filter can
//! encode requests and decode replies. The `grpc` feature adds [`grpc`] with the tonic client and
//! server traits (native only).

/// Messages of package `llmfw.state.v1`.
#[allow(clippy::all, missing_docs)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/llmfw.state.v1.rs"));
}

/// Tonic client and server for `llmfw.state.v1.StateService`.
#[cfg(feature = "grpc")]
#[allow(clippy::all, missing_docs)]
pub mod grpc {
    include!(concat!(env!("OUT_DIR"), "/grpc/llmfw.state.v1.rs"));
}

/// Encoded `FileDescriptorSet` of the protocol, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/llmfw_state_v1_descriptor.bin"));

/// Fully-qualified gRPC path of `Evaluate`, as the filter dispatches it.
pub const SERVICE_NAME: &str = "llmfw.state.v1.StateService";
/// Method name of the hot-path call.
pub const EVALUATE_METHOD: &str = "Evaluate";
