//! Container logs: the supervisor writes each line a container prints to its log file, and
//! `logs` / attached `up` read them back. The file format is Docker's json-file driver's, one
//! JSON object per line, so that tools which read Docker's log files read berth's:
//!
//! ```text
//! {"log":"listening on :80\n","stream":"stdout","time":"2026-11-22T10:00:00.123456789Z"}
//! ```
//!
//! `log` is the line with its newline (a line longer than 16 KiB is split into several
//! entries, the last of which carries the newline); `time` is RFC 3339 in UTC with
//! nanoseconds. Files are `ContainerPaths::log()` and, after rotation, `rotated_log(1)`
//! (newest) up to `rotated_log(max_files - 1)`.

use serde::{Deserialize, Serialize};

/// Which stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One line of a container's log file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The text, with its trailing newline when the line was complete.
    pub log: String,
    /// The stream.
    pub stream: Stream,
    /// When the supervisor read it, RFC 3339 UTC with nanoseconds.
    pub time: String,
}

pub mod read;
pub mod time;
pub mod write;

pub use time::format_time;
pub use write::LogWriter;
