//! Compiles `proto/llmfw/state/v1/state.proto` with protox (no system protoc).
//!
//! Messages are always generated with prost-build; the `grpc` feature adds the tonic client and
//! server, generated separately and pointed at the same messages with `extern_path`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/llmfw/state/v1/state.proto";
    println!("cargo:rerun-if-changed={proto}");
    let fds = protox::compile([proto], ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("llmfw_state_v1_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;

    prost_build::Config::new().compile_fds(fds.clone())?;

    #[cfg(feature = "grpc")]
    {
        let grpc_out = out.join("grpc");
        std::fs::create_dir_all(&grpc_out)?;
        tonic_prost_build::configure()
            .out_dir(&grpc_out)
            .build_client(true)
            .build_server(true)
            .extern_path(".llmfw.state.v1", "crate::v1")
            .compile_fds(fds)?;
    }
    Ok(())
}
