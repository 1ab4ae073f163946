//! Log capture: a container writes its stdout and stderr into two FIFOs of its directory
//! (`stdout.fifo`, `stderr.fifo`); the supervisor reads them and appends one entry per line
//! to its log file.
//!
//! Both sides open the FIFOs read-write. The container's ends then never see EPIPE (a reader
//! always exists, even while no supervisor runs: output waits in the pipe buffer for the next
//! one) and the supervisor's never see end-of-file between runs, so one pump per stream serves
//! every run of the container and survives a supervisor's replacement.

use crate::engine::logs::{LogWriter, Stream, write::MAX_ENTRY};
use crate::engine::state::{ContainerPaths, LogOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// The pumps of one container; dropping them stops reading (the FIFOs stay).
#[derive(Debug)]
pub struct LogPumps {
    drains: Vec<mpsc::Sender<oneshot::Sender<()>>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LogPumps {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Creates `path` as a FIFO unless it exists.
fn ensure_fifo(path: &Path) -> io::Result<()> {
    match nix::unistd::mkfifo(path, nix::sys::stat::Mode::from_bits_truncate(0o600)) {
        Ok(()) | Err(nix::errno::Errno::EEXIST) => Ok(()),
        Err(e) => Err(io::Error::other(format!("mkfifo {}: {e}", path.display()))),
    }
}

/// A FIFO opened read-write: neither end ever sees the other go away.
fn open_fifo(p: &Path) -> io::Result<OwnedFd> {
    ensure_fifo(p)?;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(p)?;
    Ok(OwnedFd::from(f))
}

/// The container's ends: stdout and stderr opened read-write (see the module docs).
pub fn container_fds(paths: &ContainerPaths) -> io::Result<(OwnedFd, OwnedFd)> {
    Ok((
        open_fifo(&paths.stdout_fifo())?,
        open_fifo(&paths.stderr_fifo())?,
    ))
}

/// A stdin that stays open and never delivers anything (`stdin_open`, `run -i` detached):
/// the container's own read-write end of a FIFO nobody writes to.
pub fn open_stdin(paths: &ContainerPaths) -> io::Result<OwnedFd> {
    open_fifo(&paths.stdin_fifo())
}

impl LogPumps {
    /// Starts reading the container's FIFOs (creating them when missing) into its log file.
    /// Must run inside the tokio runtime.
    pub fn start(paths: &ContainerPaths, options: LogOptions) -> io::Result<LogPumps> {
        let writer = Arc::new(Mutex::new(LogWriter::open(paths.clone(), options)?));
        let mut drains = Vec::new();
        let mut tasks = Vec::new();
        for (stream, path) in [
            (Stream::Stdout, paths.stdout_fifo()),
            (Stream::Stderr, paths.stderr_fifo()),
        ] {
            ensure_fifo(&path)?;
            let rx = pipe::OpenOptions::new()
                .read_write(true)
                .open_receiver(&path)?;
            let (tx, drain_rx) = mpsc::channel(4);
            drains.push(tx);
            tasks.push(tokio::spawn(pump(rx, stream, writer.clone(), drain_rx)));
        }
        Ok(LogPumps { drains, tasks })
    }

    /// A handle to drain the pumps without holding them.
    pub fn drainer(&self) -> Drainer {
        Drainer {
            drains: self.drains.clone(),
        }
    }
}

/// Drains a container's pumps.
#[derive(Debug, Clone)]
pub struct Drainer {
    drains: Vec<mpsc::Sender<oneshot::Sender<()>>>,
}

impl Drainer {
    /// Reads what the FIFOs hold now and writes it, an unfinished last line included: called
    /// once the container's process ended, before its exit is reported.
    pub async fn drain(&self) {
        for d in &self.drains {
            let (ack, done) = oneshot::channel();
            if d.send(ack).await.is_ok() {
                let _ = tokio::time::timeout(Duration::from_secs(2), done).await;
            }
        }
    }
}

/// Lines in the making, and where they go.
struct Lines {
    stream: Stream,
    pending: Vec<u8>,
    writer: Arc<Mutex<LogWriter>>,
}

impl Lines {
    fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
        let mut start = 0;
        while let Some(nl) = self.pending[start..].iter().position(|b| *b == b'\n') {
            let end = start + nl + 1;
            self.write(start, end);
            start = end;
        }
        // A line that does not end is written in pieces, so memory stays bounded.
        while self.pending.len() - start >= MAX_ENTRY {
            self.write(start, start + MAX_ENTRY);
            start += MAX_ENTRY;
        }
        self.pending.drain(..start);
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            self.write(0, self.pending.len());
            self.pending.clear();
        }
    }

    fn write(&self, start: usize, end: usize) {
        let mut w = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = w.write(self.stream, &self.pending[start..end], SystemTime::now()) {
            tracing::warn!("cannot write a log entry: {e}");
        }
    }
}

/// Reads everything available now; false when the pipe failed.
fn read_available(rx: &pipe::Receiver, lines: &mut Lines, buf: &mut [u8]) -> bool {
    loop {
        match rx.try_read(buf) {
            Ok(0) => return true,
            Ok(n) => lines.push(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("cannot read a container's output: {e}");
                return false;
            }
        }
    }
}

async fn pump(
    rx: pipe::Receiver,
    stream: Stream,
    writer: Arc<Mutex<LogWriter>>,
    mut drain: mpsc::Receiver<oneshot::Sender<()>>,
) {
    let mut lines = Lines {
        stream,
        pending: Vec::new(),
        writer,
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        tokio::select! {
            ready = rx.readable() => {
                if ready.is_err() || !read_available(&rx, &mut lines, &mut buf) {
                    return;
                }
            }
            ack = drain.recv() => {
                let Some(ack) = ack else { return };
                read_available(&rx, &mut lines, &mut buf);
                lines.flush();
                let _ = ack.send(());
            }
        }
    }
}
