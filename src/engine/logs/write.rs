//! Writing a container's log file: one [`LogEntry`] per line, split at 16 KiB, rotated by the
//! container's [`LogOptions`]. Appends without fsync: a log line is not worth ~20 ms of disk
//! flush on these machines, and a crash loses at most what the page cache held.

use super::time::format_time;
use super::{LogEntry, Stream};
use crate::engine::state::{ContainerPaths, LogOptions};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::time::SystemTime;

/// The longest text of one entry, in bytes; longer lines are split (Docker's limit).
pub const MAX_ENTRY: usize = 16 * 1024;

/// Appends entries to a container's log file and rotates it.
#[derive(Debug)]
pub struct LogWriter {
    paths: ContainerPaths,
    options: LogOptions,
    file: File,
    size: u64,
}

impl LogWriter {
    /// Opens (creating it when missing) the log file of the container at `paths`.
    pub fn open(paths: ContainerPaths, options: LogOptions) -> io::Result<LogWriter> {
        let file = open_append(&paths)?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            paths,
            options,
            file,
            size,
        })
    }

    /// Writes `text` (one line, with its newline when it was complete) read from `stream` at
    /// `time`, as one entry, or several when it is longer than [`MAX_ENTRY`]. Bytes that are
    /// not UTF-8 are replaced, as Docker does.
    pub fn write(&mut self, stream: Stream, text: &[u8], time: SystemTime) -> io::Result<()> {
        let text = String::from_utf8_lossy(text);
        let stamp = format_time(time);
        for piece in split(&text, MAX_ENTRY) {
            let entry = LogEntry {
                log: piece.to_string(),
                stream,
                time: stamp.clone(),
            };
            let mut line = serde_json::to_vec(&entry).map_err(io::Error::other)?;
            line.push(b'\n');
            self.rotate_for(line.len() as u64)?;
            self.file.write_all(&line)?;
            self.size += line.len() as u64;
        }
        Ok(())
    }

    /// Rotates when writing `len` more bytes would pass the size limit (a file holds at least
    /// one entry, so an entry larger than the limit still gets written).
    fn rotate_for(&mut self, len: u64) -> io::Result<()> {
        let Some(max) = self.options.max_size else {
            return Ok(());
        };
        if self.size == 0 || self.size + len <= max {
            return Ok(());
        }
        if self.options.max_files <= 1 {
            // Nothing to keep: start the file over (appends then go to offset 0).
            self.file.set_len(0)?;
        } else {
            let oldest = self.options.max_files - 1;
            remove_if_exists(&self.paths.rotated_log(oldest))?;
            for n in (1..oldest).rev() {
                rename_if_exists(&self.paths.rotated_log(n), &self.paths.rotated_log(n + 1))?;
            }
            rename_if_exists(&self.paths.log(), &self.paths.rotated_log(1))?;
            self.file = open_append(&self.paths)?;
        }
        self.size = 0;
        Ok(())
    }
}

fn open_append(paths: &ContainerPaths) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(paths.log())
}

fn remove_if_exists(path: &std::path::Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Splits `text` into pieces of at most `max` bytes, at character boundaries.
fn split(text: &str, max: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > max {
        let mut at = max;
        while !rest.is_char_boundary(at) {
            at -= 1;
        }
        let (head, tail) = rest.split_at(at);
        pieces.push(head);
        rest = tail;
    }
    if !rest.is_empty() || pieces.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn entries(path: &std::path::Path) -> Vec<LogEntry> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn t() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::new(1_795_082_400, 123_456_789)
    }

    #[test]
    fn times_are_rfc3339_utc_with_nanoseconds() {
        assert_eq!(format_time(t()), "2026-11-19T10:00:00.123456789Z");
        assert_eq!(
            format_time(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000000Z"
        );
        assert_eq!(
            format_time(SystemTime::UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00.000000000Z"
        );
    }

    #[test]
    fn lines_are_json_file_entries() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path());
        let mut w = LogWriter::open(paths.clone(), LogOptions::default()).unwrap();
        w.write(Stream::Stdout, b"hello\n", t()).unwrap();
        w.write(Stream::Stderr, b"bad \xff byte", t()).unwrap();
        let got = entries(&paths.log());
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].log, "hello\n");
        assert_eq!(got[0].stream, Stream::Stdout);
        assert_eq!(got[0].time, "2026-11-19T10:00:00.123456789Z");
        assert_eq!(got[1].log, "bad \u{fffd} byte");
        assert_eq!(got[1].stream, Stream::Stderr);
        // Reopening appends.
        let mut w = LogWriter::open(paths.clone(), LogOptions::default()).unwrap();
        w.write(Stream::Stdout, b"again\n", t()).unwrap();
        assert_eq!(entries(&paths.log()).len(), 3);
    }

    #[test]
    fn long_lines_are_split_with_the_newline_on_the_last_piece() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path());
        let mut w = LogWriter::open(paths.clone(), LogOptions::default()).unwrap();
        let mut line = "é".repeat(MAX_ENTRY); // 2 bytes each: 2 * MAX_ENTRY bytes
        line.push('\n');
        w.write(Stream::Stdout, line.as_bytes(), t()).unwrap();
        let got = entries(&paths.log());
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|e| e.log.len() <= MAX_ENTRY));
        assert!(!got[0].log.ends_with('\n') && !got[1].log.ends_with('\n'));
        assert_eq!(got[2].log, "\n");
        let joined: String = got.iter().map(|e| e.log.as_str()).collect();
        assert_eq!(joined, line);
    }

    #[test]
    fn rotation_keeps_max_files_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path());
        let opts = LogOptions {
            max_size: Some(150),
            max_files: 3,
        };
        let mut w = LogWriter::open(paths.clone(), opts).unwrap();
        // Each entry is ~70 bytes: two fit in 150.
        for i in 0..10 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes(), t())
                .unwrap();
        }
        let current = entries(&paths.log());
        let one = entries(&paths.rotated_log(1));
        let two = entries(&paths.rotated_log(2));
        assert!(!paths.rotated_log(3).exists());
        assert_eq!(current.last().unwrap().log, "line 9\n");
        assert_eq!(
            one.last().unwrap().log,
            format!("line {}\n", 9 - current.len())
        );
        assert_eq!(
            two.last().unwrap().log,
            format!("line {}\n", 9 - current.len() - one.len())
        );
        for f in [paths.log(), paths.rotated_log(1), paths.rotated_log(2)] {
            assert!(std::fs::metadata(&f).unwrap().len() <= 150);
        }
    }

    #[test]
    fn one_file_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path());
        let opts = LogOptions {
            max_size: Some(150),
            max_files: 1,
        };
        let mut w = LogWriter::open(paths.clone(), opts).unwrap();
        for i in 0..5 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes(), t())
                .unwrap();
        }
        assert!(!paths.rotated_log(1).exists());
        let got = entries(&paths.log());
        assert_eq!(got.last().unwrap().log, "line 4\n");
        assert!(got.len() < 5);
        assert!(std::fs::metadata(paths.log()).unwrap().len() <= 150);
    }
}
