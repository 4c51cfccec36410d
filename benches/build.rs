//! Generates the gRPC bench's service from the example's `echo.proto` (protox: no `protoc`).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=../examples/proto/echo.proto");
    let fds = protox::compile(["echo.proto"], ["../examples/proto"])?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
