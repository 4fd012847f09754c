//! The echo_server example itself, run as a process (`cargo test --workspace --all-features`
//! builds it, with every feature).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

/// Where the example's binary is.
pub fn path() -> std::path::PathBuf {
    // target/debug/deps/{test}-… -> target/debug/examples/echo_server
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_owned();
    let example = deps.parent().unwrap().join("examples").join("echo_server");
    assert!(
        example.exists(),
        "{} is not built: `cargo test --workspace --all-features` builds it (or `cargo build --example echo_server --all-features`)",
        example.display()
    );
    example
}

/// Starts the example on a free loopback port with `args` (after `--addr`); its address, once
/// it listens. Its output is piped (read it when it has exited).
pub async fn start(args: &[&str]) -> (std::process::Child, SocketAddr) {
    let addr: SocketAddr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let child = std::process::Command::new(path())
        .arg("--addr")
        .arg(addr.to_string())
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "the example didn't start listening");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, addr)
}

/// A process killed when it is dropped, however the test ends.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
