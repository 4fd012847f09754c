//! A real `redis-server` (Debian's package), started by the test on a free loopback port and
//! stopped when dropped. A test that needs one fails, saying so, when `redis-server` is missing:
//! it never passes without having run.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` of the test's own.
pub struct RedisServer {
    port: u16,
    child: Option<Child>,
    /// Its arguments beyond the port and the defaults.
    extra: Vec<String>,
}

/// The program: `$REDIS_SERVER`, or `redis-server` on the PATH.
fn program() -> String {
    std::env::var("REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

impl RedisServer {
    /// Starts one on a free port, and waits until it answers.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts one with `extra` arguments too (`--unixsocket PATH`, say).
    pub fn start_with(extra: &[&str]) -> RedisServer {
        for _ in 0..10 {
            // A port the system says is free now; the server binds it a moment later, unless
            // another test's server took it in between: then this one exits, and another port is
            // tried (the other server must not answer for it).
            let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let mut server =
                RedisServer { port, child: None, extra: extra.iter().map(|&arg| arg.to_owned()).collect() };
            if server.try_start() {
                return server;
            }
        }
        panic!("no redis-server of this test's own answered on any of 10 free ports");
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts it again on the same port (after [`stop`](RedisServer::stop)), empty.
    pub fn restart(&mut self) {
        assert!(self.try_start(), "redis-server could not bind port {} again", self.port);
    }

    /// Starts it on its port, and waits until it answers there; `false` if it exited first
    /// (the port was taken), or another process answers there.
    fn try_start(&mut self) -> bool {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(program())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().to_string_lossy()])
            .args(&self.extra)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "these tests need a real Redis server, and `{}` can't be started ({e}); install Debian's \
                     `redis-server` package (`.ci/run` does) or set REDIS_SERVER to its path",
                    program()
                )
            });
        let pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(answering) = self.process_id() {
                if answering == pid {
                    return true;
                }
                // Another test's server holds the port: this one can't bind it.
                self.stop();
                return false;
            }
            if let Some(child) = &mut self.child
                && let Ok(Some(_)) = child.try_wait()
            {
                self.child = None;
                return false;
            }
            assert!(Instant::now() < deadline, "redis-server on port {} did not answer within 10 s", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it (SIGKILL, as a crash would), and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process without ending it (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a paused server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = Command::new("kill").args([signal, &pid]).status().expect("kill(1) runs");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// The process id of the server that answers on the port (`INFO server`), if one does.
    fn process_id(&self) -> Option<u32> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
        stream.write_all(b"INFO server\r\n").ok()?;
        // A bulk string: `$<length>\r\n`, the text, `\r\n`; read until `process_id:` and its
        // line are in.
        let mut answer = Vec::new();
        let mut chunk = [0; 4096];
        loop {
            let text = String::from_utf8_lossy(&answer);
            if let Some(at) = text.find("process_id:")
                && let Some(end) = text[at..].find("\r\n")
            {
                return text[at + "process_id:".len()..at + end].parse().ok();
            }
            let read = stream.read(&mut chunk).ok()?;
            if read == 0 || answer.len() > 64 * 1024 {
                return None;
            }
            answer.extend_from_slice(&chunk[..read]);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A port another test's server holds is not taken for this test's: its server can't bind it
/// and exits, and the one that answers there is not its own (before, a `PING` answered by the
/// other server passed for it, and the two tests shared one server, which either could stop).
#[test]
fn a_port_another_server_holds_is_not_taken() {
    let first = RedisServer::start();
    let mut second = RedisServer { port: first.port, child: None, extra: Vec::new() };
    assert!(!second.try_start(), "the port of another test's server is refused");
    assert!(second.child.is_none(), "its own server is gone");
    assert_ne!(RedisServer::start().port, first.port);
    assert_eq!(first.process_id(), Some(first.child.as_ref().unwrap().id()), "the first answers as itself");
}

/// Pauses the writes of every client of the Redis that `connection` is on, for `pause` (`CLIENT
/// PAUSE … WRITE`): reads are still answered, and writes wait until the pause is over.
pub async fn pause_writes(connection: &mut redis::aio::MultiplexedConnection, pause: Duration) {
    let () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(pause.as_millis() as u64)
        .arg("WRITE")
        .query_async(connection)
        .await
        .expect("CLIENT PAUSE … WRITE (Redis 6.2 or later)");
}
