//! What users do to a running container through the supervisor: stop (stop signal, then
//! SIGKILL after the grace period), kill, pause and resume, forget before removal, wait.
//! A stop or a killing signal marks the container stopped by its user, so that its restart
//! policy leaves it alone.

use super::containers::Phase;
use super::{Action, Supervisor};
use crate::engine::state::{ContainerRecord, RecordedState};
use anyhow::{Context, Result, anyhow, bail};
use berth_runtime::container::Container;
use nix::sys::signal::Signal;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// Grace period of a stop when neither the request nor the record gives one (Docker's).
const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Parses a signal as Docker accepts it: `SIGKILL`, `KILL`, `kill`, `9`.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow!("invalid signal {text:?}"));
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| anyhow!("invalid signal {text:?}"))
}

impl Supervisor {
    /// Stops `id` (its stop signal, SIGKILL after the grace period); its exit code.
    pub async fn stop(self: &Arc<Self>, id: &str, timeout: Option<u64>) -> Result<i32> {
        enum Then {
            Wait(
                Arc<Container>,
                tokio::sync::oneshot::Receiver<i32>,
                Box<ContainerRecord>,
            ),
            Done(i32),
        }
        let then = {
            let mut table = self.table();
            let Some(entry) = table.get_mut(id) else {
                drop(table);
                // Not supervised: not running (as far as this supervisor knows).
                let record = self.record(id)?;
                return Ok(record.status.exit_code.unwrap_or(0));
            };
            match &entry.phase {
                Phase::Running { container, .. } => {
                    let container = container.clone();
                    entry.user_stopped = true;
                    let (tx, rx) = tokio::sync::oneshot::channel();
                    entry.waiters.push(tx);
                    Then::Wait(container, rx, Box::new(entry.record.clone()))
                }
                Phase::Restarting { cancel } => {
                    cancel.notify_one();
                    entry.user_stopped = true;
                    entry.phase = Phase::Exited;
                    entry.status.state = RecordedState::Exited;
                    entry.status.stopped_by_user = true;
                    Then::Done(entry.status.exit_code.unwrap_or(0))
                }
                Phase::Starting => bail!("container {} is starting; try again", entry.record.name),
                Phase::Exited => Then::Done(entry.status.exit_code.unwrap_or(0)),
            }
        };
        match then {
            Then::Done(code) => {
                self.save_status(id);
                if let Ok(record) = self.record(id) {
                    self.emit(&record, Action::Stop, &[]);
                }
                Ok(code)
            }
            Then::Wait(container, rx, record) => {
                let signal = match record.stop_signal.as_deref() {
                    Some(s) => parse_signal(s)?,
                    None => Signal::SIGTERM,
                };
                let grace = timeout
                    .or(record.stop_grace_period)
                    .map(Duration::from_secs)
                    .unwrap_or(DEFAULT_GRACE);
                self.emit(
                    &record,
                    Action::Kill,
                    &[("signal", (signal as i32).to_string())],
                );
                let stopped = tokio::task::spawn_blocking(move || container.stop(signal, grace))
                    .await
                    .context("the stop task failed")?
                    .with_context(|| format!("cannot stop {}", record.name))?;
                if stopped.killed {
                    self.emit(&record, Action::Kill, &[("signal", "9".to_string())]);
                }
                let code = rx
                    .await
                    .map_err(|_| anyhow!("{} was forgotten while stopping", record.name))?;
                self.emit(&record, Action::Stop, &[]);
                Ok(code)
            }
        }
    }

    /// Sends `signal` to `id`; a signal that ends processes counts as a user stop.
    pub fn kill(&self, id: &str, signal: &str) -> Result<()> {
        let sig = parse_signal(signal)?;
        let (container, record) = {
            let mut table = self.table();
            let entry = table
                .get_mut(id)
                .filter(|e| e.container().is_some())
                .ok_or_else(|| anyhow!("container {id} is not running"))?;
            let stop_signal = entry
                .record
                .stop_signal
                .as_deref()
                .and_then(|s| parse_signal(s).ok());
            if matches!(
                sig,
                Signal::SIGKILL | Signal::SIGTERM | Signal::SIGINT | Signal::SIGQUIT
            ) || Some(sig) == stop_signal
            {
                entry.user_stopped = true;
            }
            (entry.container(), entry.record.clone())
        };
        let Some(container) = container else {
            bail!("container {} is not running", record.name);
        };
        container
            .signal(sig)
            .with_context(|| format!("cannot signal {}", record.name))?;
        self.emit(
            &record,
            Action::Kill,
            &[("signal", (sig as i32).to_string())],
        );
        Ok(())
    }

    /// Freezes (`pause`) or thaws `id`.
    pub async fn set_paused(self: &Arc<Self>, id: &str, pause: bool) -> Result<()> {
        let (container, record) = {
            let table = self.table();
            let entry = table
                .get(id)
                .ok_or_else(|| anyhow!("container {id} is not running"))?;
            match &entry.phase {
                Phase::Running {
                    container, paused, ..
                } => {
                    if *paused == pause {
                        let what = if pause {
                            "paused already"
                        } else {
                            "not paused"
                        };
                        bail!("container {} is {what}", entry.record.name);
                    }
                    (container.clone(), entry.record.clone())
                }
                _ => bail!("container {} is not running", entry.record.name),
            }
        };
        tokio::task::spawn_blocking(move || {
            if pause {
                container.pause()
            } else {
                container.resume()
            }
        })
        .await
        .context("the pause task failed")?
        .with_context(|| {
            format!(
                "cannot {} {}",
                if pause { "pause" } else { "unpause" },
                record.name
            )
        })?;
        {
            let mut table = self.table();
            if let Some(entry) = table.get_mut(id) {
                if let Phase::Running { paused, .. } = &mut entry.phase {
                    *paused = pause;
                }
                entry.status.state = if pause {
                    RecordedState::Paused
                } else {
                    RecordedState::Running
                };
            }
        }
        self.save_status(id);
        let action = if pause {
            Action::Pause
        } else {
            Action::Unpause
        };
        self.emit(&record, action, &[]);
        Ok(())
    }

    /// Forgets `id` before its removal.
    pub fn forget(&self, id: &str) -> Result<()> {
        let mut table = self.table();
        if let Some(entry) = table.get(id) {
            if entry.is_active() {
                bail!(
                    "container {} is running: stop it before removing it",
                    entry.record.name
                );
            }
            let name = entry.record.name.clone();
            table.remove(id);
            drop(table);
            self.dns.remove(&name);
        }
        Ok(())
    }

    /// A receiver of `id`'s next exit code, or its recorded code when it does not run.
    pub fn wait(
        &self,
        id: &str,
    ) -> Result<std::result::Result<tokio::sync::oneshot::Receiver<i32>, i32>> {
        let mut table = self.table();
        if let Some(entry) = table.get_mut(id)
            && entry.is_active()
        {
            let (tx, rx) = tokio::sync::oneshot::channel();
            entry.waiters.push(tx);
            return Ok(Ok(rx));
        }
        drop(table);
        let record = self.record(id)?;
        Ok(Err(record.status.exit_code.unwrap_or(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_as_docker_accepts_them() {
        assert_eq!(parse_signal("SIGKILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("kill").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("HUP").unwrap(), Signal::SIGHUP);
        assert_eq!(parse_signal("15").unwrap(), Signal::SIGTERM);
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
