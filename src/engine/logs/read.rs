//! Reading a container's log back: its entries across the rotated files in order, `--tail`,
//! `--since` / `--until` as Docker applies them, and following the files as they grow, rotate
//! and the container restarts.
//!
//! [`Follower`] does the work by polling: each [`Follower::poll`] returns what was written
//! since the previous one (the first returns the history the query selects). Callers that
//! follow several containers poll them all and merge by time; [`follow`] is the loop for one.

use super::time::parse_time;
use super::{LogEntry, Stream};
use crate::engine::state::ContainerPaths;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

/// How often [`follow`] looks for new lines.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How much of a file is read at a time.
const CHUNK: usize = 256 * 1024;

/// How many lines beyond `--tail` may pile up before the oldest are dropped.
const TRIM_SLACK: usize = 4096;

/// How long a line without its newline waits for the rest before it is shown as it is.
const PARTIAL_GRACE: Duration = Duration::from_millis(500);

/// The most rotated files looked for (Docker's max-file has no limit; this one keeps a
/// damaged directory from making us probe forever).
const MAX_ROTATED: u32 = 10_000;

/// One line a container printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// When the supervisor read it (of its first part, for a line written in parts).
    pub time: SystemTime,
    /// The stream it came from.
    pub stream: Stream,
    /// The text, without its trailing newline.
    pub text: String,
}

/// Which lines to read, as `docker logs` selects them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Only the last N lines of the history (`--tail`); `None`: all.
    pub tail: Option<usize>,
    /// Only lines written at or after this time (`--since`).
    pub since: Option<SystemTime>,
    /// Only lines written at or before this time (`--until`); following stops past it.
    pub until: Option<SystemTime>,
}

impl LogQuery {
    fn admits(&self, time: SystemTime) -> bool {
        self.since.is_none_or(|s| time >= s) && self.until.is_none_or(|u| time <= u)
    }
}

/// Reads the lines of the container whose files `paths` names, oldest first, as the query
/// selects them. A container without a log file has no lines.
pub fn read(paths: &ContainerPaths, query: &LogQuery) -> io::Result<Vec<LogLine>> {
    let mut follower = Follower::new(paths.clone(), query.clone());
    let mut lines = follower.poll()?;
    lines.extend(follower.finish());
    Ok(lines)
}

/// Follows one container: calls `on_line` for each line (the history first), polling every
/// [`POLL_INTERVAL`], until `stop` returns true, `on_line` returns false, or the query's
/// `until` has passed. Rotation and restarts are followed; a log file that does not exist
/// yet is waited for.
pub fn follow(
    paths: &ContainerPaths,
    query: &LogQuery,
    stop: &dyn Fn() -> bool,
    on_line: &mut dyn FnMut(LogLine) -> bool,
) -> io::Result<()> {
    let mut follower = Follower::new(paths.clone(), query.clone());
    loop {
        for line in follower.poll()? {
            if !on_line(line) {
                return Ok(());
            }
        }
        if stop() || follower.past_until() {
            for line in follower.finish() {
                if !on_line(line) {
                    break;
                }
            }
            return Ok(());
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// The open current log file: its identity, so that a rotation is noticed.
struct Current {
    file: File,
    dev: u64,
    ino: u64,
    offset: u64,
}

/// A text started without its newline, waiting for the rest.
struct Pending {
    time: SystemTime,
    text: String,
    since: Instant,
}

/// Reads a container's log incrementally (see the module docs).
pub struct Follower {
    paths: ContainerPaths,
    query: LogQuery,
    started: bool,
    /// Reading the history (the first poll), where `--tail` applies.
    in_history: bool,
    current: Option<Current>,
    /// Bytes after the last newline of the file: a JSON line being written.
    torn: Vec<u8>,
    /// Partial lines, by stream (stdout, stderr).
    pending: [Option<Pending>; 2],
}

impl Follower {
    /// A follower of the container whose files `paths` names; nothing is read until
    /// [`Follower::poll`].
    pub fn new(paths: ContainerPaths, query: LogQuery) -> Follower {
        Follower {
            paths,
            query,
            started: false,
            in_history: false,
            current: None,
            torn: Vec::new(),
            pending: [None, None],
        }
    }

    /// The lines written since the previous call, oldest first; the first call returns the
    /// history (rotated files included) that the query selects, `--tail` applied.
    pub fn poll(&mut self) -> io::Result<Vec<LogLine>> {
        let mut out = Vec::new();
        if !self.started {
            self.started = true;
            self.in_history = true;
            // The current file is opened first: a rotation while the older files are read
            // then shows as this handle's file being renamed, which poll() follows.
            self.current = open_current(&self.paths.log())?;
            for path in rotated_files(&self.paths) {
                let mut file = match File::open(&path) {
                    Ok(f) => f,
                    // Rotated away while we listed them: its lines are in a later file.
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                self.read_chunks(&mut file, &mut out)?;
                // A rotated file is complete; a last line without newline is torn for good.
                self.take_lines(&[], true, &mut out);
            }
            self.read_current(&mut out)?;
            self.in_history = false;
            if let Some(n) = self.query.tail {
                let skip = out.len().saturating_sub(n);
                out.drain(..skip);
                // A partial line from before the tail belongs to a line not shown.
                if n == 0 {
                    self.pending = [None, None];
                }
            }
        } else {
            self.read_current(&mut out)?;
        }
        // Text that waited long enough for its newline is shown as it is.
        for (i, slot) in self.pending.iter_mut().enumerate() {
            if slot
                .as_ref()
                .is_some_and(|p| p.since.elapsed() >= PARTIAL_GRACE)
                && let Some(p) = slot.take()
            {
                push_line(&mut out, p.time, STREAMS[i], p.text);
            }
        }
        out.retain(|l| self.query.admits(l.time));
        out.sort_by_key(|l| l.time);
        Ok(out)
    }

    /// Ends reading: the partial lines still waiting for their newline, as they are.
    pub fn finish(&mut self) -> Vec<LogLine> {
        let mut out = Vec::new();
        for (i, slot) in self.pending.iter_mut().enumerate() {
            if let Some(p) = slot.take() {
                push_line(&mut out, p.time, STREAMS[i], p.text);
            }
        }
        out.retain(|l| self.query.admits(l.time));
        out.sort_by_key(|l| l.time);
        out
    }

    /// Whether the query's `--until` has passed, so that following can stop.
    pub fn past_until(&self) -> bool {
        self.query.until.is_some_and(|u| SystemTime::now() > u)
    }

    /// Reads what the current file gained; on rotation, the rest of the old file and then
    /// the new one; on truncation, the file again from its start.
    fn read_current(&mut self, out: &mut Vec<LogLine>) -> io::Result<()> {
        let path = self.paths.log();
        loop {
            let Some(mut cur) = self.current.take() else {
                self.current = open_current(&path)?;
                if self.current.is_none() {
                    return Ok(());
                }
                continue;
            };
            let len = cur.file.metadata()?.len();
            if len < cur.offset {
                // Truncated in place: start over.
                cur.offset = 0;
                self.torn.clear();
            }
            cur.file.seek(SeekFrom::Start(cur.offset))?;
            let read = self.read_chunks(&mut cur.file, out);
            let (dev, ino) = (cur.dev, cur.ino);
            if let Ok(n) = read {
                cur.offset += n;
            }
            self.current = Some(cur);
            read?;
            // Rotated when the path now names another file (or none: removed, or between
            // the rename and the creation of the new one, which the next poll sees).
            let rotated = match std::fs::metadata(&path) {
                Ok(m) => m.dev() != dev || m.ino() != ino,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            };
            if !rotated {
                return Ok(());
            }
            // What the old file gained between our read and the rename was just read;
            // a torn line at its end is lost with it.
            self.torn.clear();
            self.current = None;
        }
    }

    /// Reads `file` to its end in chunks, turning complete JSON lines into lines as they
    /// come; while reading the history with `--tail`, lines that cannot be among the last
    /// ones are dropped on the way, so a large file costs no more memory than the tail.
    /// Returns the number of bytes read.
    fn read_chunks(&mut self, file: &mut File, out: &mut Vec<LogLine>) -> io::Result<u64> {
        let mut chunk = vec![0u8; CHUNK];
        let mut total = 0u64;
        loop {
            let n = match file.read(&mut chunk) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            total += n as u64;
            self.take_lines(&chunk[..n], false, out);
            if let Some(tail) = self.query.tail.filter(|_| self.in_history)
                && out.len() > tail + TRIM_SLACK
            {
                out.drain(..out.len() - tail);
            }
        }
    }

    /// Splits `data` into JSON lines (keeping a torn last one for later unless `whole`) and
    /// turns their entries into lines.
    fn take_lines(&mut self, data: &[u8], whole: bool, out: &mut Vec<LogLine>) {
        let mut buf = std::mem::take(&mut self.torn);
        buf.extend_from_slice(data);
        let mut rest = buf.as_slice();
        while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
            self.take_entry(&rest[..nl], out);
            rest = &rest[nl + 1..];
        }
        if whole {
            self.take_entry(rest, out);
        } else {
            self.torn = rest.to_vec();
        }
    }

    fn take_entry(&mut self, json: &[u8], out: &mut Vec<LogLine>) {
        if json.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        // A line that does not parse (damaged file) is skipped, as Docker's reader does
        // with what it cannot decode.
        let Ok(entry) = serde_json::from_slice::<LogEntry>(json) else {
            tracing::debug!("skipping an unreadable log line");
            return;
        };
        let Some(time) = parse_time(&entry.time) else {
            tracing::debug!("skipping a log line with a bad time {:?}", entry.time);
            return;
        };
        let slot = &mut self.pending[stream_index(entry.stream)];
        let (time, mut text) = match slot.take() {
            Some(p) => (p.time, p.text),
            None => (time, String::new()),
        };
        text.push_str(&entry.log);
        match text.strip_suffix('\n') {
            Some(line) => push_line(out, time, entry.stream, line.to_owned()),
            None => {
                *slot = Some(Pending {
                    time,
                    text,
                    since: Instant::now(),
                })
            }
        }
    }
}

fn push_line(out: &mut Vec<LogLine>, time: SystemTime, stream: Stream, text: String) {
    let text = text.strip_suffix('\r').map(str::to_owned).unwrap_or(text);
    out.push(LogLine { time, stream, text });
}

/// The streams by their index in [`Follower::pending`].
const STREAMS: [Stream; 2] = [Stream::Stdout, Stream::Stderr];

fn stream_index(stream: Stream) -> usize {
    match stream {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

fn open_current(path: &std::path::Path) -> io::Result<Option<Current>> {
    match File::open(path) {
        Ok(file) => {
            let m = file.metadata()?;
            Ok(Some(Current {
                dev: m.dev(),
                ino: m.ino(),
                file,
                offset: 0,
            }))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The rotated files that exist, oldest first.
fn rotated_files(paths: &ContainerPaths) -> Vec<PathBuf> {
    let mut found = VecDeque::new();
    for n in 1..=MAX_ROTATED {
        let p = paths.rotated_log(n);
        if !p.exists() {
            break;
        }
        found.push_front(p);
    }
    found.into()
}

#[cfg(test)]
mod tests {
    use super::super::time::format_time;
    use super::*;
    use std::io::Write;
    use std::time::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn entry(secs: u64, stream: &str, log: &str) -> String {
        let e = serde_json::json!({"log": log, "stream": stream, "time": format_time(at(secs))});
        format!("{e}\n")
    }

    fn append(path: &std::path::Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn texts(lines: &[LogLine]) -> Vec<&str> {
        lines.iter().map(|l| l.text.as_str()).collect()
    }

    fn container() -> (tempfile::TempDir, ContainerPaths) {
        let dir = tempfile::tempdir().unwrap();
        let paths = ContainerPaths::new(dir.path());
        (dir, paths)
    }

    #[test]
    fn reads_rotated_files_oldest_first_and_tails_across_them() {
        let (_dir, paths) = container();
        append(&paths.rotated_log(2), &entry(1, "stdout", "one\n"));
        append(&paths.rotated_log(1), &entry(2, "stderr", "two\n"));
        append(&paths.rotated_log(1), &entry(3, "stdout", "three\r\n"));
        append(&paths.log(), &entry(4, "stdout", "four\n"));
        let all = read(&paths, &LogQuery::default()).unwrap();
        assert_eq!(texts(&all), ["one", "two", "three", "four"]);
        assert_eq!(all[1].stream, Stream::Stderr);
        assert_eq!(all[0].time, at(1));
        let tail = LogQuery {
            tail: Some(3),
            ..Default::default()
        };
        assert_eq!(
            texts(&read(&paths, &tail).unwrap()),
            ["two", "three", "four"]
        );
        let none = LogQuery {
            tail: Some(0),
            ..Default::default()
        };
        assert!(read(&paths, &none).unwrap().is_empty());
    }

    #[test]
    fn since_and_until_are_inclusive_and_apply_after_tail() {
        let (_dir, paths) = container();
        for s in 1..=5 {
            append(&paths.log(), &entry(s, "stdout", &format!("l{s}\n")));
        }
        let q = LogQuery {
            since: Some(at(2)),
            until: Some(at(4)),
            ..Default::default()
        };
        assert_eq!(texts(&read(&paths, &q).unwrap()), ["l2", "l3", "l4"]);
        let q = LogQuery {
            tail: Some(2),
            until: Some(at(4)),
            ..Default::default()
        };
        assert_eq!(texts(&read(&paths, &q).unwrap()), ["l4"]);
    }

    #[test]
    fn joins_split_lines_and_skips_damage() {
        let (_dir, paths) = container();
        let mut text = entry(1, "stdout", "long ");
        text.push_str(&entry(2, "stderr", "err\n"));
        text.push_str("{not json\n\n");
        text.push_str(&entry(3, "stdout", "line\n"));
        text.push_str(&entry(4, "stdout", "no newline at exit"));
        text.push_str("{\"log\":\"torn");
        append(&paths.log(), &text);
        let all = read(&paths, &LogQuery::default()).unwrap();
        assert_eq!(texts(&all), ["long line", "err", "no newline at exit"]);
        assert_eq!(all[0].time, at(1));
    }

    #[test]
    fn large_files_read_in_chunks_keep_every_line_and_the_right_tail() {
        let (_dir, paths) = container();
        // About 900 KiB: several chunks, lines cut at chunk boundaries.
        let mut text = String::new();
        for i in 0..10_000u64 {
            text.push_str(&entry(i, "stdout", &format!("line {i}\n")));
        }
        append(&paths.rotated_log(1), &text);
        append(&paths.log(), &entry(20_000, "stdout", "last\n"));
        let all = read(&paths, &LogQuery::default()).unwrap();
        assert_eq!(all.len(), 10_001);
        assert_eq!(all[4_321].text, "line 4321");
        let q = LogQuery {
            tail: Some(3),
            ..Default::default()
        };
        assert_eq!(
            texts(&read(&paths, &q).unwrap()),
            ["line 9998", "line 9999", "last"]
        );
    }

    #[test]
    fn a_container_without_log_has_no_lines() {
        let (_dir, paths) = container();
        assert!(read(&paths, &LogQuery::default()).unwrap().is_empty());
    }

    #[test]
    fn follows_growth_torn_writes_rotation_and_truncation() {
        let (_dir, paths) = container();
        let mut f = Follower::new(paths.clone(), LogQuery::default());
        assert!(f.poll().unwrap().is_empty());
        append(&paths.log(), &entry(1, "stdout", "a\n"));
        assert_eq!(texts(&f.poll().unwrap()), ["a"]);
        // A JSON line written in two pieces shows once complete.
        let b = entry(2, "stdout", "b\n");
        let (first, second) = b.split_at(10);
        append(&paths.log(), first);
        assert!(f.poll().unwrap().is_empty());
        append(&paths.log(), second);
        assert_eq!(texts(&f.poll().unwrap()), ["b"]);
        // Rotation: the old file gets a last line, is renamed, and a new one starts.
        append(&paths.log(), &entry(3, "stdout", "c\n"));
        std::fs::rename(paths.log(), paths.rotated_log(1)).unwrap();
        append(&paths.log(), &entry(4, "stdout", "d\n"));
        assert_eq!(texts(&f.poll().unwrap()), ["c", "d"]);
        // Between rename and creation there is no file: nothing, then the new one.
        std::fs::rename(paths.log(), paths.rotated_log(2)).unwrap();
        assert!(f.poll().unwrap().is_empty());
        append(&paths.log(), &entry(5, "stdout", "eeeeeeee\n"));
        assert_eq!(texts(&f.poll().unwrap()), ["eeeeeeee"]);
        // Truncation in place (the file shrank) starts over.
        std::fs::write(paths.log(), entry(6, "stdout", "f\n")).unwrap();
        assert_eq!(texts(&f.poll().unwrap()), ["f"]);
    }

    #[test]
    fn follow_stops_when_told_and_delivers_the_history_first() {
        let (_dir, paths) = container();
        append(&paths.rotated_log(1), &entry(1, "stdout", "old\n"));
        append(&paths.log(), &entry(2, "stdout", "new\n"));
        let writer_paths = paths.clone();
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            append(&writer_paths.log(), &entry(3, "stderr", "later\n"));
        });
        let started = Instant::now();
        let mut seen = Vec::new();
        follow(
            &paths,
            &LogQuery::default(),
            &|| started.elapsed() > Duration::from_millis(600),
            &mut |l| {
                seen.push(l.text);
                true
            },
        )
        .unwrap();
        writer.join().unwrap();
        assert_eq!(seen, ["old", "new", "later"]);
        // on_line returning false ends it at once.
        let mut count = 0;
        follow(&paths, &LogQuery::default(), &|| false, &mut |_| {
            count += 1;
            false
        })
        .unwrap();
        assert_eq!(count, 1);
    }
}
