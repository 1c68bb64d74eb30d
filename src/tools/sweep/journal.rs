//! The journal: `journal.jsonl` in the output directory, a header line and then one
//! complete JSON line per finished run, appended in run order as runs finish (by the
//! workers, each write whole lines) and synced to disk by another thread at most
//! [`super::SYNC_INTERVAL`] later (a group commit: one `fdatasync` for every line
//! written since the last). A killed process loses no line it wrote (the page cache
//! keeps it); a lost machine loses at most the lines of the last interval, which
//! `--resume` runs again.
//!
//! A run is done once its line is complete. A process killed mid-line (a lost
//! machine) leaves a partial last line, which `--resume` drops and recomputes. Every
//! complete line is checked when the journal is read (its fields, run index, digest
//! and one finite number or empty field per metric column): a line that is complete
//! but wrong was not written by this sweep, so it is refused with its line number,
//! never dropped or repaired, and nothing is run or written. A run found twice is
//! refused too.
//!
//! The journal is read in bounded memory: what is kept of it is one bit per run
//! (which are done) and where its sorted stretches start. A session appends its
//! runs in increasing order, so a journal is a few sorted stretches (one per
//! session); when the sweep completes they are merged ([`merge_sources`]) into the
//! journal rewritten in canonical order, so even it does not depend on how the runs
//! were scheduled.

use super::table::{self, Row, MAX_LINE_BYTES};
use super::{RunSet, SweepError};
use serde::{Deserialize, Serialize};
use std::collections::BinaryHeap;
use std::io::{BufRead, Read, Seek, Write};
use std::path::{Path, PathBuf};

pub const FILE: &str = "journal.jsonl";

/// The first line: which sweep and shard the journal belongs to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Header {
    pub acidbase_sweep: String,
    pub fingerprint: String,
    pub runs: usize,
    /// [index, count].
    pub shard: [usize; 2],
}

/// A sorted stretch of a journal: byte range of whole row lines in one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub path: PathBuf,
    pub start: u64,
    pub end: u64,
}

/// A journal as scanned.
#[derive(Debug)]
pub struct Found {
    pub header: Header,
    /// Complete row lines.
    pub rows: usize,
    /// Bytes up to the end of the last complete line.
    pub valid_len: u64,
    /// Its sorted stretches, in file order.
    pub sources: Vec<Source>,
}

fn err(path: &Path, m: impl std::fmt::Display) -> SweepError {
    SweepError::input(format!("{}: {m}", path.display()))
}

/// One line at most MAX_LINE_BYTES long: `None` at the end; `(bytes, complete)`.
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let n = r
        .by_ref()
        .take(MAX_LINE_BYTES as u64 + 1)
        .read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(buf.last() == Some(&b'\n')))
}

/// Parses and checks one row line (without its newline).
fn parse_row(line: &[u8], metrics: &[String], runs: usize) -> Result<Row, String> {
    let row: Row = serde_json::from_slice(line).map_err(|e| format!("not a run's line ({e})"))?;
    table::check_row(&row, metrics, runs)?;
    Ok(row)
}

/// Reads a journal line by line, ignoring a partial last line. `check_header`
/// decides whether the header is the expected one; then every row line is checked
/// against `metrics` and the header's run count, and marked in `done` (a run outside
/// `done`'s shard, or found twice, is refused).
pub fn scan(
    path: &Path,
    metrics: &[String],
    check_header: &dyn Fn(&Header) -> Result<(), SweepError>,
    done: &mut RunSet,
) -> Result<Found, SweepError> {
    let f = std::fs::File::open(path).map_err(|e| err(path, e))?;
    let mut r = std::io::BufReader::new(f);
    let mut buf = Vec::new();
    let remedy =
        "; delete that line to have the run done again with --resume, or --force to start over";
    let header =
        match read_line(&mut r, &mut buf).map_err(|e| err(path, e))? {
            Some(true) => serde_json::from_slice::<Header>(&buf[..buf.len() - 1])
                .map_err(|e| err(path, format!("line 1 is not a sweep journal header: {e}")))?,
            Some(false) if buf.len() > MAX_LINE_BYTES => {
                return Err(err(path, "line 1 is not a sweep journal header (too long)"))
            }
            _ => return Err(err(
                path,
                "the journal has no complete header line; remove it (or use --force) to start over",
            )),
        };
    if header.shard[1] == 0 || header.shard[0] >= header.shard[1] {
        return Err(err(
            path,
            format!(
                "line 1: shard {}/{} is not a shard (expected I/N with 0 <= I < N)",
                header.shard[0], header.shard[1]
            ),
        ));
    }
    check_header(&header)?;
    let mut offset = buf.len() as u64;
    let mut sources: Vec<Source> = Vec::new();
    let mut prev: Option<usize> = None;
    let mut rows = 0;
    let mut line_no = 1;
    while let Some(complete) = read_line(&mut r, &mut buf).map_err(|e| err(path, e))? {
        line_no += 1;
        if !complete {
            if buf.len() > MAX_LINE_BYTES {
                return Err(err(
                    path,
                    format!("line {line_no} is longer than {MAX_LINE_BYTES} bytes: not a run's line{remedy}"),
                ));
            }
            // A partial last line: the run it was recording is not done.
            break;
        }
        let row = parse_row(&buf[..buf.len() - 1], metrics, header.runs)
            .map_err(|m| err(path, format!("line {line_no} is damaged: {m}{remedy}")))?;
        if !done.belongs(row.run) {
            return Err(err(
                path,
                format!(
                    "line {line_no}: run {} does not belong to shard {}/{}{remedy}",
                    row.run, header.shard[0], header.shard[1]
                ),
            ));
        }
        if !done.insert(row.run) {
            return Err(err(
                path,
                format!(
                    "line {line_no}: run {} appears a second time (were two sweeps writing to this directory at once?){remedy}",
                    row.run
                ),
            ));
        }
        let len = buf.len() as u64;
        match (prev, sources.last_mut()) {
            (Some(p), Some(s)) if row.run > p => s.end = offset + len,
            _ => sources.push(Source {
                path: path.to_path_buf(),
                start: offset,
                end: offset + len,
            }),
        }
        prev = Some(row.run);
        rows += 1;
        offset += len;
    }
    Ok(Found {
        header,
        rows,
        valid_len: offset,
        sources,
    })
}

/// Cuts a partial last line off, so appends start on a fresh line.
pub fn truncate_to(path: &Path, len: u64) -> Result<(), SweepError> {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| err(path, e))?;
    f.set_len(len).map_err(|e| err(path, e))
}

pub fn line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).expect("journal lines serialise");
    s.push('\n');
    s
}

/// The journal open for appending.
///
/// A sweep's workers append through a shared reference ([`Journal::write_lines`]:
/// the worker that completes the in-order prefix writes it, under the sweep's one
/// lock, so lines are whole and in run order), and one thread syncs it
/// ([`Journal::sync`]) on a timer, so no worker ever waits for the disk.
pub struct Journal {
    file: std::fs::File,
    path: std::path::PathBuf,
    /// The file's length when opened: this session's lines start here.
    opened_len: u64,
}

impl Journal {
    /// Opens (creating with `header` if new) for appending.
    pub fn open(path: &Path, header: &Header) -> Result<Journal, SweepError> {
        let new = !path.exists();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| err(path, e))?;
        if new {
            file.write_all(line(header).as_bytes())
                .and_then(|()| file.sync_data())
                .map_err(|e| err(path, e))?;
        }
        let opened_len = file.metadata().map_err(|e| err(path, e))?.len();
        Ok(Journal {
            file,
            path: path.to_path_buf(),
            opened_len,
        })
    }

    /// Appends finished runs, one whole line per write, then syncs once.
    pub fn append(&mut self, rows: &[Row]) -> Result<(), SweepError> {
        for r in rows {
            self.write_lines(line(r).as_bytes())?;
        }
        self.sync()
    }

    /// Appends whole lines (one `write` for all of them, in the kernel's page cache
    /// when it returns: a killed process loses none of them), without syncing.
    pub fn write_lines(&self, bytes: &[u8]) -> Result<(), SweepError> {
        (&self.file)
            .write_all(bytes)
            .map_err(|e| err(&self.path, e))
    }

    /// Syncs what was written to disk (`fdatasync`): it survives a lost machine.
    pub fn sync(&self) -> Result<(), SweepError> {
        self.file.sync_data().map_err(|e| err(&self.path, e))
    }

    /// The file's length when it was opened.
    pub fn opened_len(&self) -> u64 {
        self.opened_len
    }
}

/// Reads just the header line of a journal (`None` if it has no complete one).
pub fn read_header(path: &Path) -> Result<Option<Header>, SweepError> {
    let f = std::fs::File::open(path).map_err(|e| err(path, e))?;
    let mut r = std::io::BufReader::new(f);
    let mut buf = Vec::new();
    Ok(
        match read_line(&mut r, &mut buf).map_err(|e| err(path, e))? {
            Some(true) => serde_json::from_slice::<Header>(&buf[..buf.len() - 1]).ok(),
            _ => None,
        },
    )
}

/// Most sorted stretches merged at once (open files); more are merged in rounds
/// through temporary files.
pub const FAN_IN: usize = 64;

struct Reader {
    r: std::io::Take<std::io::BufReader<std::fs::File>>,
    path: PathBuf,
    head: Option<Row>,
    buf: Vec<u8>,
}

impl Reader {
    fn open(s: &Source) -> Result<Reader, SweepError> {
        let mut f = std::fs::File::open(&s.path).map_err(|e| err(&s.path, e))?;
        f.seek(std::io::SeekFrom::Start(s.start))
            .map_err(|e| err(&s.path, e))?;
        Ok(Reader {
            r: std::io::BufReader::new(f).take(s.end - s.start),
            path: s.path.clone(),
            head: None,
            buf: Vec::new(),
        })
    }

    fn advance(&mut self, metrics: &[String], runs: usize) -> Result<(), SweepError> {
        let buf = &mut self.buf;
        self.head = match read_line(&mut self.r, buf).map_err(|e| err(&self.path, e))? {
            None => None,
            Some(_) => {
                let text = buf.strip_suffix(b"\n").unwrap_or(buf);
                Some(
                    parse_row(text, metrics, runs)
                        .map_err(|m| err(&self.path, format!("changed while it was read: {m}")))?,
                )
            }
        };
        Ok(())
    }
}

/// Merges sorted stretches of journals into one stream in run order, handing each
/// run to `f` once with the file it came from. A run found in two stretches must be
/// the same line in both (else the error names both files). More than [`FAN_IN`]
/// stretches are merged in rounds through temporary files in `tmp_dir`.
pub fn merge_sources(
    mut sources: Vec<Source>,
    metrics: &[String],
    runs: usize,
    tmp_dir: &Path,
    f: &mut dyn FnMut(Row, &Path) -> Result<(), SweepError>,
) -> Result<(), SweepError> {
    let mut temps: Vec<PathBuf> = Vec::new();
    let result = (|| {
        let mut round = 0;
        while sources.len() > FAN_IN {
            let mut next = Vec::new();
            for (i, chunk) in sources.chunks(FAN_IN).enumerate() {
                let p = tmp_dir.join(format!(".journal-merge-{round}-{i}.tmp"));
                temps.push(p.clone());
                let file = std::fs::File::create(&p).map_err(|e| err(&p, e))?;
                let mut w = std::io::BufWriter::new(file);
                merge_few(chunk, metrics, runs, &mut |row, _| {
                    w.write_all(line(&row).as_bytes()).map_err(|e| err(&p, e))
                })?;
                w.flush().map_err(|e| err(&p, e))?;
                let end = std::fs::metadata(&p).map_err(|e| err(&p, e))?.len();
                next.push(Source {
                    path: p,
                    start: 0,
                    end,
                });
            }
            sources = next;
            round += 1;
        }
        merge_few(&sources, metrics, runs, f)
    })();
    for t in temps {
        let _ = std::fs::remove_file(t);
    }
    result
}

fn merge_few(
    sources: &[Source],
    metrics: &[String],
    runs: usize,
    f: &mut dyn FnMut(Row, &Path) -> Result<(), SweepError>,
) -> Result<(), SweepError> {
    let mut readers = Vec::with_capacity(sources.len());
    let mut heap = BinaryHeap::new();
    for (i, s) in sources.iter().enumerate() {
        let mut r = Reader::open(s)?;
        r.advance(metrics, runs)?;
        if let Some(h) = &r.head {
            heap.push(std::cmp::Reverse((h.run, i)));
        }
        readers.push(r);
    }
    let mut last: Option<(Row, usize)> = None;
    while let Some(std::cmp::Reverse((_, i))) = heap.pop() {
        let row = readers[i]
            .head
            .take()
            .expect("a reader in the heap has a row");
        readers[i].advance(metrics, runs)?;
        if let Some(h) = &readers[i].head {
            heap.push(std::cmp::Reverse((h.run, i)));
        }
        match &last {
            Some((prev, from)) if prev.run == row.run => {
                if *prev != row {
                    return Err(SweepError::input(format!(
                        "run {} differs between {} and {}: the shards were run by different acidbase builds",
                        row.run,
                        readers[*from].path.display(),
                        readers[i].path.display()
                    )));
                }
            }
            _ => {
                if let Some((prev, from)) = last.take() {
                    f(prev, &readers[from].path)?;
                }
                last = Some((row, i));
            }
        }
    }
    if let Some((prev, from)) = last {
        f(prev, &readers[from].path)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tools::sweep::Shard;

    fn metrics() -> Vec<String> {
        vec!["a".into()]
    }

    fn row(run: usize) -> Row {
        Row {
            run,
            digest: "0123456789abcdef".into(),
            m: vec!["1".into()],
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("acidbase-journal-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&d).expect("temp dir");
        d
    }

    fn scan_all(p: &Path, runs: usize) -> Result<(Found, RunSet), SweepError> {
        let mut done = RunSet::new(runs, Shard::ALL);
        let found = scan(p, &metrics(), &|_| Ok(()), &mut done)?;
        Ok((found, done))
    }

    #[test]
    fn a_partial_last_line_is_ignored_and_cut() {
        let d = dir("partial");
        let p = d.join(FILE);
        let h = Header {
            acidbase_sweep: "t".into(),
            fingerprint: "f".into(),
            runs: 3,
            shard: [0, 1],
        };
        let mut j = Journal::open(&p, &h).expect("open");
        j.append(&[row(2), row(0)]).expect("append");
        drop(j);
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .expect("open");
        f.write_all(b"{\"run\":1,\"dig").expect("write");
        drop(f);
        let (found, done) = scan_all(&p, 3).expect("read");
        assert_eq!(found.header, h);
        assert_eq!(found.rows, 2);
        assert!(done.contains(0) && done.contains(2) && !done.contains(1));
        // 2 then 0: two sorted stretches.
        assert_eq!(found.sources.len(), 2);
        truncate_to(&p, found.valid_len).expect("truncate");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.ends_with("]}\n"), "{text}");
        let mut got = Vec::new();
        merge_sources(found.sources, &metrics(), 3, &d, &mut |r, _| {
            got.push(r.run);
            Ok(())
        })
        .expect("merge");
        assert_eq!(got, [0, 2]);
        // A damaged line in the middle is not silently skipped.
        std::fs::write(&p, format!("{}garbage\n{}", line(&h), line(&row(1)))).expect("write");
        let e = scan_all(&p, 3).expect_err("damaged").message;
        assert!(e.contains("line 2 is damaged"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// Complete lines of the wrong shape were accepted (an extra field, a missing
    /// or extra value, a non-number): each is now refused with its line.
    #[test]
    fn every_line_is_checked() {
        let d = dir("shape");
        let p = d.join(FILE);
        let h = line(&Header {
            acidbase_sweep: "t".into(),
            fingerprint: "f".into(),
            runs: 3,
            shard: [0, 1],
        });
        let ok = line(&row(0));
        for (bad, want) in [
            (
                r#"{"run":1,"digest":"0123456789abcdef","m":["1"],"extra":2}"#,
                "unknown field `extra`",
            ),
            (
                r#"{"run":1,"digest":"0123456789abcdef","m":["1","2"]}"#,
                "2 metric values, expected 1",
            ),
            (
                r#"{"run":1,"digest":"0123456789abcdef","m":["NaN"]}"#,
                "a: \"NaN\" is not a finite number",
            ),
            (
                r#"{"run":1,"digest":"0123456789abcdef","m":["abc"]}"#,
                "a: \"abc\" is not a number",
            ),
            (
                r#"{"run":1,"digest":"x,y","m":["1"]}"#,
                "digest \"x,y\" is not 16 hex digits",
            ),
            (
                r#"{"run":7,"digest":"0123456789abcdef","m":["1"]}"#,
                "run 7 is out of range",
            ),
            (
                r#"{"run":0,"digest":"0123456789abcdef","m":["1"]}"#,
                "run 0 appears a second time",
            ),
        ] {
            std::fs::write(&p, format!("{h}{ok}{bad}\n{ok}")).expect("write");
            let e = scan_all(&p, 3).expect_err("refused").message;
            assert!(e.contains(": line 3") && e.contains(want), "{bad}: {e}");
        }
        let hx = h.replace("}\n", ",\"x\":1}\n");
        std::fs::write(&p, format!("{hx}{ok}")).expect("write");
        let e = scan_all(&p, 3).expect_err("refused").message;
        assert!(e.contains("line 1 is not a sweep journal header"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn many_stretches_merge_in_rounds() {
        let d = dir("rounds");
        let p = d.join(FILE);
        let runs = 3 * FAN_IN * FAN_IN / 2;
        let h = Header {
            acidbase_sweep: "t".into(),
            fingerprint: "f".into(),
            runs,
            shard: [0, 1],
        };
        // Every run its own stretch: runs in decreasing order.
        let mut text = line(&h);
        for r in (0..runs).rev() {
            text.push_str(&line(&row(r)));
        }
        std::fs::write(&p, text).expect("write");
        let (found, _) = scan_all(&p, runs).expect("scan");
        assert_eq!(found.sources.len(), runs);
        let mut next = 0;
        merge_sources(found.sources, &metrics(), runs, &d, &mut |r, _| {
            assert_eq!(r.run, next);
            next += 1;
            Ok(())
        })
        .expect("merge");
        assert_eq!(next, runs);
        let left: Vec<_> = std::fs::read_dir(&d).expect("dir").collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        let _ = std::fs::remove_dir_all(&d);
    }
}
