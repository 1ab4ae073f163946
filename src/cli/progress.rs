//! Pull progress on stderr: per-layer bars on a terminal (indicatif), plain lines otherwise,
//! worded as Docker Compose (` web Pulling`, ` 4abcf2066143 Pull complete`) or as `docker
//! pull` (`4abcf2066143: Pull complete`).

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::Duration;

use berth_runtime::image::pull::{LayerState, PullEvent};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::output::human_size;
use super::{Ansi, GlobalOptions, Progress};

/// Whose words the lines use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wording {
    /// `docker compose pull`: ` <service> Pulling`, ` <layer> Pull complete`.
    Compose,
    /// `docker pull`: `<layer>: Pull complete`.
    Docker,
}

/// How progress is shown.
enum Mode {
    Quiet,
    Plain,
    Bars(MultiProgress),
}

#[derive(Default)]
struct State {
    /// Per owner (service or image): its line on a terminal.
    owners: HashMap<String, ProgressBar>,
    /// Per owner and layer: the bar, and the last state printed.
    layers: HashMap<(String, String), (Option<ProgressBar>, String)>,
    /// Per owner: the bar layer bars go below.
    last: HashMap<String, ProgressBar>,
}

/// Reports the progress of one or several concurrent pulls.
pub struct Reporter {
    mode: Mode,
    wording: Wording,
    /// Whether per-layer progress is shown (`--quiet-pull` shows only the verdicts).
    layers: bool,
    state: Mutex<State>,
}

impl Reporter {
    /// Chooses bars or lines from `--progress`, `--ansi` and whether stderr is a terminal;
    /// `quiet` shows nothing.
    pub fn new(global: &GlobalOptions, quiet: bool, wording: Wording) -> Reporter {
        let terminal = std::io::stderr().is_terminal();
        let mode = if quiet || global.progress == Progress::Quiet {
            Mode::Quiet
        } else if global.ansi == Ansi::Never
            || matches!(global.progress, Progress::Plain | Progress::Json)
            || (global.progress == Progress::Auto && !terminal)
        {
            Mode::Plain
        } else {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        };
        Reporter {
            mode,
            wording,
            layers: true,
            state: Mutex::new(State::default()),
        }
    }

    /// Shows only each owner's status (`Pulling`, `Pulled`), no layer progress: Compose's
    /// `--quiet-pull`.
    pub fn without_layers(mut self) -> Reporter {
        self.layers = false;
        self
    }

    /// Prints a line (above the bars on a terminal).
    pub fn line(&self, text: &str) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
            Mode::Bars(multi) => {
                let _ = multi.println(text);
            }
        }
    }

    fn owner_text(&self, owner: &str, status: &str) -> String {
        match self.wording {
            Wording::Compose => format!(" {owner} {status}"),
            Wording::Docker => format!("{owner}: {status}"),
        }
    }

    /// An owner's status changed (`Pulling`, `Pulled`, `Skipped - ...`, `Error`).
    pub fn status(&self, owner: &str, status: &str, finished: bool) {
        match &self.mode {
            Mode::Quiet => {}
            Mode::Plain => self.line(&self.owner_text(owner, status)),
            Mode::Bars(multi) => {
                let mut state = self.lock();
                let bar = state
                    .owners
                    .entry(owner.to_owned())
                    .or_insert_with(|| {
                        let bar = multi.add(ProgressBar::new_spinner());
                        bar.set_style(
                            ProgressStyle::with_template("{spinner} {msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                                .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏✔"),
                        );
                        bar.enable_steady_tick(Duration::from_millis(100));
                        bar
                    })
                    .clone();
                state.last.entry(owner.to_owned()).or_insert(bar.clone());
                let text = self.owner_text(owner, status);
                if finished {
                    let mark = if status == "Error" { "✘" } else { "✔" };
                    if let Ok(style) = ProgressStyle::with_template(&format!("{mark} {{msg}}")) {
                        bar.set_style(style);
                    }
                    bar.finish_with_message(text);
                } else {
                    bar.set_message(text);
                }
            }
        }
    }

    /// A pull event of `owner`'s pull.
    pub fn event(&self, owner: &str, event: &PullEvent) {
        let PullEvent::Layer {
            digest,
            state,
            done,
            total,
        } = event
        else {
            return;
        };
        if !self.layers {
            return;
        }
        let short: String = digest.hex().chars().take(12).collect();
        let text = match state {
            LayerState::AlreadyExists => "Already exists".to_owned(),
            LayerState::Waiting => "Waiting".to_owned(),
            LayerState::Downloading => "Downloading".to_owned(),
            LayerState::Resuming { from } => format!("Resuming from {}", human_size(*from)),
            LayerState::Retrying { attempt, reason } => format!("Retrying ({attempt}): {reason}"),
            LayerState::Downloaded => "Download complete".to_owned(),
            LayerState::Extracting => "Extracting".to_owned(),
            LayerState::Complete => "Pull complete".to_owned(),
        };
        let finished = matches!(state, LayerState::AlreadyExists | LayerState::Complete);
        match &self.mode {
            Mode::Quiet => {}
            Mode::Plain => {
                let mut state = self.lock();
                let key = (owner.to_owned(), short.clone());
                let entry = state.layers.entry(key).or_insert((None, String::new()));
                // Downloading reports many times; a plain log gets it once.
                if entry.1 != text {
                    entry.1 = text.clone();
                    drop(state);
                    self.line(&self.layer_text(&short, &text));
                }
            }
            Mode::Bars(multi) => {
                let mut state = self.lock();
                let key = (owner.to_owned(), short.clone());
                let after = state.last.get(owner).cloned();
                let entry = state.layers.entry(key).or_insert_with(|| {
                    let bar = ProgressBar::new(*total);
                    let bar = match &after {
                        Some(after) => multi.insert_after(after, bar),
                        None => multi.add(bar),
                    };
                    bar.set_style(
                        ProgressStyle::with_template(
                            "   {prefix} {msg:18} [{bar:30}] {bytes}/{total_bytes}",
                        )
                        .unwrap_or_else(|_| ProgressStyle::default_bar())
                        .progress_chars("=> "),
                    );
                    bar.set_prefix(short.clone());
                    (Some(bar), String::new())
                });
                let Some(bar) = entry.0.clone() else { return };
                entry.1 = text.clone();
                state.last.insert(owner.to_owned(), bar.clone());
                drop(state);
                bar.set_length(*total);
                bar.set_position(*done);
                if finished {
                    bar.finish_with_message(text);
                } else {
                    bar.set_message(text);
                }
            }
        }
    }

    fn layer_text(&self, short: &str, text: &str) -> String {
        match self.wording {
            Wording::Compose => format!(" {short} {text}"),
            Wording::Docker => format!("{short}: {text}"),
        }
    }

    /// Stops every bar where it is.
    pub fn finish(&self) {
        if let Mode::Bars(_) = &self.mode {
            let state = self.lock();
            for bar in state.owners.values() {
                bar.finish();
            }
            for (bar, _) in state.layers.values() {
                if let Some(bar) = bar {
                    bar.finish();
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock only loses progress display state.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
