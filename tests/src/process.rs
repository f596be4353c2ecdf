//! Child processes of a test: started with their output in a log file, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A free TCP port on loopback (bound and released; the tiny race is acceptable in tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind port 0")
        .local_addr()
        .expect("local addr")
        .port()
}

pub struct Proc {
    pub name: String,
    pub log: PathBuf,
    child: Option<Child>,
    /// Leads its own process group, whose members are killed with it.
    group: bool,
}

impl Proc {
    pub fn spawn(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Proc {
        Self::start(name, bin, args, env, log, false)
    }

    /// [`Proc::spawn`] for a program that forks workers (nginx): it leads a process group, and
    /// killing it kills the group. SIGKILL to nginx's master alone leaves its workers running,
    /// still listening.
    pub fn spawn_group(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
    ) -> Proc {
        Self::start(name, bin, args, env, log, true)
    }

    fn start(
        name: &str,
        bin: &Path,
        args: &[String],
        env: &[(String, String)],
        log: &Path,
        group: bool,
    ) -> Proc {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let err = out.try_clone().expect("log file handle");
        let mut cmd = Command::new(bin);
        cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        // Only what the test sets: no TWINWIRE_* from the developer's shell leaks in.
        for (k, _) in std::env::vars() {
            if k.starts_with("TWINWIRE_") {
                cmd.env_remove(k);
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        if group {
            std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        Proc {
            name: name.to_owned(),
            log: log.to_path_buf(),
            child: Some(child),
            group,
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process has ended. Reads /proc (a zombie or a vanished pid), so callers can
    /// share `&self`.
    pub fn has_exited(&self) -> bool {
        let Some(pid) = self.pid() else { return true };
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(s) => s.contains(") Z "),
            Err(_) => true,
        }
    }

    /// Sends a signal by number (std has no kill(2); the `kill` program does it).
    pub fn signal(&self, sig: i32) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .arg(format!("-{sig}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child
            .as_mut()
            .and_then(|c| c.wait().ok())
            .and_then(|s| s.code())
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(
        &mut self,
        timeout: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(s)) = c.try_wait() {
                    return Some(s);
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            if self.group {
                let _ = Command::new("kill")
                    .args(["-9", "--", &format!("-{}", c.id())])
                    .status();
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}
