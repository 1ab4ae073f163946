//! The supervisor's socket: accepts connections, reads JSON-line requests, answers each, and
//! turns subscribed connections into event streams.

use super::Supervisor;
use super::protocol::{self, Request, Response, SupervisorStatus};
use crate::engine::state::StateRoot;
use anyhow::{Context, Result, bail};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::broadcast::error::RecvError;

/// Binds the project's socket, replacing a stale one (we hold the supervisor lock, so any
/// socket there belongs to a supervisor that is gone).
pub fn bind(state: &StateRoot, project: &str) -> Result<UnixListener> {
    let path = state.supervisor_socket(project);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot remove {}", path.display()));
        }
        _ => {}
    }
    UnixListener::bind(&path).with_context(|| format!("cannot listen on {}", path.display()))
}

/// Serves connections until a shutdown request.
pub async fn serve(sup: Arc<Supervisor>, listener: UnixListener) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(connection(sup.clone(), stream));
                }
                Err(e) => {
                    tracing::warn!("accept on the supervisor socket: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
            _ = sup.shutdown.notified() => return,
        }
    }
}

async fn send<T: serde::Serialize>(w: &mut tokio::net::unix::OwnedWriteHalf, m: &T) -> bool {
    let mut line = protocol::encode(m);
    line.push('\n');
    w.write_all(line.as_bytes()).await.is_ok()
}

async fn connection(sup: Arc<Supervisor>, stream: UnixStream) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let request = match protocol::decode::<Request>(&line) {
            Ok(r) => r,
            Err(e) => {
                let message = format!("invalid request {line:?}: {e}");
                if !send(&mut write, &Response::Error { message }).await {
                    return;
                }
                continue;
            }
        };
        match request {
            Request::Subscribe => {
                let mut events = sup.subscribe();
                if !send(&mut write, &Response::Subscribed).await {
                    return;
                }
                loop {
                    match events.recv().await {
                        Ok(event) => {
                            if !send(&mut write, &event).await {
                                return;
                            }
                        }
                        Err(RecvError::Lagged(n)) => {
                            tracing::warn!("an event subscriber missed {n} events");
                        }
                        Err(RecvError::Closed) => return,
                    }
                }
            }
            Request::Shutdown { force } => {
                let answer = match may_shut_down(&sup, force) {
                    Ok(()) => Response::Ok,
                    Err(e) => Response::Error {
                        message: format!("{e:#}"),
                    },
                };
                let ok = answer == Response::Ok;
                send(&mut write, &answer).await;
                if ok {
                    sup.shutdown.notify_one();
                    return;
                }
            }
            other => {
                let answer = match handle(&sup, other).await {
                    Ok(r) => r,
                    Err(e) => Response::Error {
                        message: format!("{e:#}"),
                    },
                };
                if !send(&mut write, &answer).await {
                    return;
                }
            }
        }
    }
}

fn may_shut_down(sup: &Supervisor, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let active: Vec<String> = sup
        .table()
        .values()
        .filter(|e| e.is_active())
        .map(|e| e.record.name.clone())
        .collect();
    if !active.is_empty() {
        bail!(
            "the supervisor of project {:?} still runs containers ({}): stop them first, or shut it down with force",
            sup.project,
            active.join(", ")
        );
    }
    Ok(())
}

async fn handle(sup: &Arc<Supervisor>, request: Request) -> Result<Response> {
    Ok(match request {
        Request::Ping => Response::Pong {
            pid: std::process::id(),
        },
        Request::Status => {
            let mut containers: Vec<_> = sup.table().values().map(|e| e.summary()).collect();
            containers.sort_by(|a, b| a.name.cmp(&b.name));
            Response::Status(SupervisorStatus {
                pid: std::process::id(),
                project: sup.project.clone(),
                containers,
            })
        }
        Request::Start { id } => {
            sup.start(&id).await?;
            Response::Ok
        }
        Request::Stop { id, timeout_secs } => Response::Exited {
            code: sup.stop(&id, timeout_secs).await?,
        },
        Request::Kill { id, signal } => {
            sup.kill(&id, &signal)?;
            Response::Ok
        }
        Request::Pause { id } => {
            sup.set_paused(&id, true).await?;
            Response::Ok
        }
        Request::Unpause { id } => {
            sup.set_paused(&id, false).await?;
            Response::Ok
        }
        Request::Forget { id } => {
            sup.forget(&id)?;
            Response::Ok
        }
        Request::Refresh => {
            sup.refresh().await?;
            Response::Ok
        }
        Request::Wait { id } => match sup.wait(&id)? {
            Ok(next) => Response::Exited {
                code: next
                    .await
                    .context("the container was forgotten while waited for")?,
            },
            Err(code) => Response::Exited { code },
        },
        // Handled by the connection loop.
        Request::Subscribe | Request::Shutdown { .. } => Response::Error {
            message: "unexpected request".into(),
        },
    })
}
