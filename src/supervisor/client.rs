//! The CLI's side of the supervisor: a blocking client, and starting a supervisor when none
//! answers.

use super::adopt::TakeOver;
use super::protocol::{self, Event, Request, Response, SupervisorStatus};
use crate::engine::state::StateRoot;
use anyhow::{Context, Result, anyhow, bail};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long [`SupervisorClient::ensure`] waits for a new supervisor to answer.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a supervisor may take to answer a ping.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// Environment variable naming the executable that runs supervisors (default: this very
/// program, `/proc/self/exe`); tests set it to the `berth` binary.
pub const EXE_ENV: &str = "BERTH_SUPERVISOR_EXE";

/// A connection to a project's supervisor.
#[derive(Debug)]
pub struct SupervisorClient {
    project: String,
    reader: BufReader<UnixStream>,
    writer: UnixStream,
    pid: u32,
}

impl SupervisorClient {
    /// Connects to `project`'s supervisor; `None` when none answers (no socket, or a stale one
    /// left by a supervisor that died).
    pub fn connect(state: &StateRoot, project: &str) -> Result<Option<SupervisorClient>> {
        let socket = state.supervisor_socket(project);
        let stream = match UnixStream::connect(&socket) {
            Ok(s) => s,
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::ConnectionRefused) => {
                return Ok(None);
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("cannot connect to the supervisor at {}", socket.display())
                });
            }
        };
        let writer = stream
            .try_clone()
            .context("cannot clone the supervisor connection")?;
        let mut client = SupervisorClient {
            project: project.to_string(),
            reader: BufReader::new(stream),
            writer,
            pid: 0,
        };
        // A hung supervisor accepts (the kernel does) but never answers: do not hang with it.
        client
            .writer
            .set_read_timeout(Some(PING_TIMEOUT))
            .context("cannot set a timeout on the supervisor connection")?;
        let answer = client.call(&Request::Ping);
        client
            .writer
            .set_read_timeout(None)
            .context("cannot clear the timeout of the supervisor connection")?;
        match answer {
            Ok(Response::Pong { pid }) => {
                client.pid = pid;
                Ok(Some(client))
            }
            Ok(other) => bail!("unexpected answer from the supervisor of {project}: {other:?}"),
            Err(e)
                if e.downcast_ref::<std::io::Error>().is_some_and(|io| {
                    matches!(io.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                }) =>
            {
                bail!(
                    "the supervisor of project {project} does not answer (pid {}); see {}",
                    std::fs::read_to_string(state.supervisor_pid_file(project))
                        .unwrap_or_default()
                        .trim(),
                    state.supervisor_log(project).display()
                )
            }
            // It accepted, then closed: shutting down.
            Err(_) => Ok(None),
        }
    }

    /// Connects to `project`'s supervisor, starting one (this program, or `$BERTH_SUPERVISOR_EXE`)
    /// when none answers.
    pub fn ensure(state: &StateRoot, project: &str) -> Result<SupervisorClient> {
        let exe = std::env::var_os(EXE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/proc/self/exe"));
        Self::ensure_with(state, project, &exe)
    }

    /// As [`SupervisorClient::ensure`], starting `exe supervise` (a `berth` binary).
    pub fn ensure_with(state: &StateRoot, project: &str, exe: &Path) -> Result<SupervisorClient> {
        Self::ensure_mode(state, project, exe, TakeOver::Restart)
    }

    /// As [`SupervisorClient::ensure_with`]; a supervisor started here records the containers
    /// it finds dead as exited without restarting them, leaving their start (in dependency
    /// order, after their root filesystem and network are made again) to the caller.
    pub fn ensure_deferring(
        state: &StateRoot,
        project: &str,
        exe: &Path,
    ) -> Result<SupervisorClient> {
        Self::ensure_mode(state, project, exe, TakeOver::Defer)
    }

    fn ensure_mode(
        state: &StateRoot,
        project: &str,
        exe: &Path,
        mode: TakeOver,
    ) -> Result<SupervisorClient> {
        if let Some(c) = Self::connect(state, project)? {
            return Ok(c);
        }
        let child = spawn(state, project, exe, mode)?;
        let child = std::sync::Arc::new(std::sync::Mutex::new(child));
        let deadline = Instant::now() + START_TIMEOUT;
        let mut delay = Duration::from_millis(5);
        loop {
            if let Some(c) = Self::connect(state, project)? {
                reap_later(child);
                return Ok(c);
            }
            // An early exit: lost the race to another supervisor (exit 0; keep waiting for
            // that one to answer) or failed (say why).
            let exited = child.lock().map(|mut c| c.try_wait()).ok();
            if let Some(Ok(Some(status))) = exited
                && !status.success()
            {
                bail!(
                    "the supervisor of project {project} failed to start ({status}); see {}{}",
                    state.supervisor_log(project).display(),
                    log_tail(&state.supervisor_log(project))
                );
            }
            if Instant::now() >= deadline {
                bail!(
                    "the supervisor of project {project} did not answer within {}s; see {}",
                    START_TIMEOUT.as_secs(),
                    state.supervisor_log(project).display()
                );
            }
            std::thread::sleep(delay);
            delay = (delay * 2).min(Duration::from_millis(100));
        }
    }

    /// The supervisor's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The project.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// Sends one request and reads its answer (an `Error` answer stays a [`Response`]).
    pub fn call(&mut self, request: &Request) -> Result<Response> {
        let mut line = protocol::encode(request);
        line.push('\n');
        self.writer
            .write_all(line.as_bytes())
            .with_context(|| format!("cannot talk to the supervisor of {}", self.project))?;
        self.read_response()
    }

    fn read_response(&mut self) -> Result<Response> {
        let mut line = String::new();
        let n = self
            .reader
            .read_line(&mut line)
            .with_context(|| format!("cannot read from the supervisor of {}", self.project))?;
        if n == 0 {
            bail!(
                "the supervisor of {} closed the connection without answering",
                self.project
            );
        }
        protocol::decode(&line).with_context(|| {
            format!(
                "the supervisor of {} answered something unreadable: {}",
                self.project,
                line.trim_end()
            )
        })
    }

    /// Sends a request and turns an `Error` answer into an error.
    fn request(&mut self, request: &Request) -> Result<Response> {
        match self.call(request)? {
            Response::Error { message } => Err(anyhow!(message)),
            other => Ok(other),
        }
    }

    fn expect_ok(&mut self, request: &Request) -> Result<()> {
        match self.request(request)? {
            Response::Ok => Ok(()),
            other => bail!("unexpected answer from the supervisor: {other:?}"),
        }
    }

    fn expect_exit(&mut self, request: &Request) -> Result<i32> {
        match self.request(request)? {
            Response::Exited { code } => Ok(code),
            other => bail!("unexpected answer from the supervisor: {other:?}"),
        }
    }

    /// The supervisor's pid and containers.
    pub fn status(&mut self) -> Result<SupervisorStatus> {
        match self.request(&Request::Status)? {
            Response::Status(s) => Ok(s),
            other => bail!("unexpected answer from the supervisor: {other:?}"),
        }
    }

    /// Starts container `id` (prepared by the executor).
    pub fn start(&mut self, id: &str) -> Result<()> {
        self.expect_ok(&Request::Start { id: id.into() })
    }

    /// Stops container `id` (stop signal, SIGKILL after `timeout_secs` or the record's grace
    /// period) and returns its exit code.
    pub fn stop(&mut self, id: &str, timeout_secs: Option<u64>) -> Result<i32> {
        self.expect_exit(&Request::Stop {
            id: id.into(),
            timeout_secs,
        })
    }

    /// Sends `signal` (`SIGKILL`, `HUP`, `9`...) to container `id`.
    pub fn kill(&mut self, id: &str, signal: &str) -> Result<()> {
        self.expect_ok(&Request::Kill {
            id: id.into(),
            signal: signal.into(),
        })
    }

    /// Freezes container `id`.
    pub fn pause(&mut self, id: &str) -> Result<()> {
        self.expect_ok(&Request::Pause { id: id.into() })
    }

    /// Thaws container `id`.
    pub fn unpause(&mut self, id: &str) -> Result<()> {
        self.expect_ok(&Request::Unpause { id: id.into() })
    }

    /// Forgets container `id` before its removal (it must not run).
    pub fn forget(&mut self, id: &str) -> Result<()> {
        self.expect_ok(&Request::Forget { id: id.into() })
    }

    /// Makes the supervisor re-read the project's records.
    pub fn refresh(&mut self) -> Result<()> {
        self.expect_ok(&Request::Refresh)
    }

    /// Waits until container `id`'s process ends; its exit code.
    pub fn wait(&mut self, id: &str) -> Result<i32> {
        self.expect_exit(&Request::Wait { id: id.into() })
    }

    /// Makes the supervisor exit (refused while containers run, unless `force`).
    pub fn shutdown(mut self, force: bool) -> Result<()> {
        self.expect_ok(&Request::Shutdown { force })
    }

    /// Turns this connection into the stream of the project's events.
    pub fn events(mut self) -> Result<Events> {
        match self.request(&Request::Subscribe)? {
            Response::Subscribed => Ok(Events {
                reader: self.reader,
                _writer: self.writer,
            }),
            other => bail!("unexpected answer from the supervisor: {other:?}"),
        }
    }
}

/// The events of a project, as they happen; ends when the supervisor exits.
#[derive(Debug)]
pub struct Events {
    reader: BufReader<UnixStream>,
    _writer: UnixStream,
}

impl Iterator for Events {
    type Item = Result<Event>;

    fn next(&mut self) -> Option<Result<Event>> {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => None,
            Ok(_) => Some(
                protocol::decode(&line)
                    .with_context(|| format!("unreadable event: {}", line.trim_end())),
            ),
            Err(e) => Some(Err(e).context("cannot read events from the supervisor")),
        }
    }
}

/// Starts `exe --root ROOT supervise PROJECT`, detached: its own session, stdin on
/// /dev/null, stdout and stderr appended to the supervisor's log.
fn spawn(
    state: &StateRoot,
    project: &str,
    exe: &Path,
    mode: TakeOver,
) -> Result<std::process::Child> {
    let log_path = state.supervisor_log(project);
    if let Some(dir) = log_path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    // It runs in / (so that it keeps no directory busy): absolute paths only.
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let mut cmd = std::process::Command::new(exe);
    cmd.arg("--root")
        .arg(absolute(state.root()))
        .arg("supervise")
        .arg(project)
        .args((mode == TakeOver::Defer).then_some("--defer-lost"))
        .env("BERTH_RUN", absolute(state.run()))
        .current_dir("/")
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().context("cannot duplicate the log file")?)
        .stderr(log);
    // SAFETY: setsid is async-signal-safe; it detaches the supervisor from the CLI's session
    // and terminal, so that neither a closed terminal nor ^C reaches it.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().with_context(|| {
        format!(
            "cannot start the supervisor of project {project} ({})",
            exe.display()
        )
    })
}

/// Reaps the supervisor when it exits, so that a long-lived caller (a test, `up` attached)
/// keeps no zombie of it.
fn reap_later(child: std::sync::Arc<std::sync::Mutex<std::process::Child>>) {
    std::thread::spawn(move || {
        if let Ok(mut c) = child.lock() {
            let _ = c.wait();
        }
    });
}

/// The last lines of the supervisor's log, to show with a failure.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(5)..].join("\n");
    if tail.is_empty() {
        String::new()
    } else {
        format!(":\n{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;

    /// A stand-in supervisor that answers each request with the next canned response.
    fn fake(
        state: &StateRoot,
        project: &str,
        answers: Vec<Response>,
    ) -> std::thread::JoinHandle<Vec<Request>> {
        let path = state.supervisor_socket(project);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let listener = UnixListener::bind(&path).unwrap();
        std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let mut seen = Vec::new();
            for answer in answers {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap() == 0 {
                    break;
                }
                seen.push(protocol::decode(&line).unwrap());
                writeln!(writer, "{}", protocol::encode(&answer)).unwrap();
            }
            seen
        })
    }

    #[test]
    fn no_socket_means_no_supervisor() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateRoot::open(dir.path().join("root"), dir.path().join("run")).unwrap();
        assert!(SupervisorClient::connect(&state, "p").unwrap().is_none());
    }

    #[test]
    fn answers_map_to_results_and_errors_keep_the_supervisors_message() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateRoot::open(dir.path().join("root"), dir.path().join("run")).unwrap();
        let message = "port 8080/tcp on 0.0.0.0 is already in use by project \"x\" service \"web\"";
        let server = fake(
            &state,
            "p",
            vec![
                Response::Pong { pid: 42 },
                Response::Error {
                    message: message.into(),
                },
                Response::Exited { code: 143 },
                Response::Ok,
            ],
        );
        let mut c = SupervisorClient::connect(&state, "p").unwrap().unwrap();
        assert_eq!(c.pid(), 42);
        assert_eq!(c.start("ab").unwrap_err().to_string(), message);
        assert_eq!(c.stop("ab", Some(3)).unwrap(), 143);
        c.shutdown(false).unwrap();
        assert_eq!(
            server.join().unwrap(),
            vec![
                Request::Ping,
                Request::Start { id: "ab".into() },
                Request::Stop {
                    id: "ab".into(),
                    timeout_secs: Some(3)
                },
                Request::Shutdown { force: false },
            ]
        );
    }
}
