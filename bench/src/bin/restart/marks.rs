//! The start markers: every run of a benchmarked container creates a new file in a host
//! directory bind-mounted at /mark. A thread waits on inotify for those creations and stamps
//! each with the monotonic clock the moment the kernel hands it over, so a start is timed to
//! microseconds, the same way for every tool.

use anyhow::{Context, Result, bail};
use rustix::fs::inotify;
use std::mem::MaybeUninit;
use std::path::Path;
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

/// The starts seen in one marker directory.
pub struct Marks {
    rx: Receiver<Instant>,
}

impl Marks {
    /// Watches `dir` (which must exist) for new files.
    pub fn watch(dir: &Path) -> Result<Marks> {
        let fd = inotify::init(inotify::CreateFlags::CLOEXEC).context("inotify_init")?;
        inotify::add_watch(&fd, dir, inotify::WatchFlags::CREATE)
            .with_context(|| format!("cannot watch {}", dir.display()))?;
        let (tx, rx) = channel();
        // The thread lives until its receiver is gone and one more event arrives, or until
        // the process ends: a blocked read cannot be interrupted, and it holds nothing else.
        std::thread::spawn(move || {
            let mut buf = [MaybeUninit::<u8>::uninit(); 4096];
            let mut reader = inotify::Reader::new(&fd, &mut buf);
            let mut stamp = Instant::now();
            loop {
                let refill = reader.is_buffer_empty();
                let Ok(event) = reader.next() else { return };
                if refill {
                    // Every event of one read arrived together.
                    stamp = Instant::now();
                }
                if event.events().contains(inotify::ReadFlags::CREATE) && tx.send(stamp).is_err() {
                    return;
                }
            }
        });
        Ok(Marks { rx })
    }

    /// Forgets the starts seen so far.
    pub fn drain(&self) {
        while self.rx.try_recv().is_ok() {}
    }

    /// The next start, or `None` when none came by `deadline`. Fails when the bench is being
    /// interrupted.
    pub fn next_before(&self, deadline: Instant) -> Result<Option<Instant>> {
        loop {
            crate::interrupted()?;
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let slice = (deadline - now).min(Duration::from_millis(200));
            match self.rx.recv_timeout(slice) {
                Ok(t) => return Ok(Some(t)),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => bail!("the marker watcher stopped"),
            }
        }
    }

    /// The next start, which must come within `timeout`.
    pub fn next_within(&self, timeout: Duration, what: &str) -> Result<Instant> {
        match self.next_before(Instant::now() + timeout)? {
            Some(t) => Ok(t),
            None => bail!("{what}: no start within {timeout:?}"),
        }
    }
}
