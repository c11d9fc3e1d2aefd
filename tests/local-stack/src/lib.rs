//! The local stand-ins for AWS that tests and the demo start: the moto server (Secrets Manager,
//! DynamoDB, SNS, SQS, CloudWatch Logs) on a free loopback port, stopped when dropped.
//!
//! moto comes from PyPI (`pip install 'moto[server]'`); `.ci/run` installs it when missing.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Fake credentials for the stand-ins: they accept any, and nothing real is ever used.
pub const ACCESS_KEY_ID: &str = "AKIDLOCALSTACK000000";
pub const SECRET_ACCESS_KEY: &str = "local-stack-secret-access-key";
pub const REGION: &str = "eu-west-1";

/// A moto server child process.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `python3 -m moto.server` on a free loopback port and waits until it answers.
    /// The port is free when chosen; if another process takes it first, a new one is tried.
    pub fn start() -> Result<Moto, String> {
        let mut last = String::new();
        for _ in 0..3 {
            match Moto::start_on(free_port()?) {
                Ok(moto) => return Ok(moto),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    fn start_on(port: u16) -> Result<Moto, String> {
        let child = Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start python3 -m moto.server: {e}"))?;
        let mut moto = Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = moto.child.try_wait() {
                return Err(format!(
                    "moto.server exited with {status}: is moto installed? (pip install 'moto[server]')"
                ));
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(moto);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        moto.stop();
        Err("moto.server did not listen within 30 s".into())
    }

    /// Freezes the server (SIGSTOP): connections are accepted by the kernel and never answered,
    /// as when a dependency hangs.
    pub fn pause(&self) -> Result<(), String> {
        self.signal("-STOP")
    }

    /// Thaws a paused server (SIGCONT); what it held is still there.
    pub fn resume(&self) -> Result<(), String> {
        self.signal("-CONT")
    }

    fn signal(&self, which: &str) -> Result<(), String> {
        let status = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .map_err(|e| format!("kill {which}: {e}"))?;
        status
            .success()
            .then_some(())
            .ok_or_else(|| format!("kill {which} {}: {status}", self.child.id()))
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free loopback port: {e}"))
}

pub mod bankid;
pub mod clients;
pub mod stack;
