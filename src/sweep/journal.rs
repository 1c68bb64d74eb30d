//! The journal: `journal.jsonl` in the output directory, a header line and then one
//! complete JSON line per finished run, appended as runs finish and synced to disk.
//!
//! A run is done once its line is complete. A process killed mid-line (a lost
//! machine) leaves a partial last line, which `--resume` drops and recomputes. When
//! the sweep completes, the journal is rewritten in canonical order, so even it does
//! not depend on how the runs were scheduled.

use super::table::Row;
use super::SweepError;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;

pub const FILE: &str = "journal.jsonl";

/// The first line: which sweep and shard the journal belongs to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Header {
    pub acidbase_sweep: String,
    pub fingerprint: String,
    pub runs: usize,
    /// [index, count].
    pub shard: [usize; 2],
}

/// A journal as read back.
pub struct Found {
    pub header: Header,
    pub rows: Vec<Row>,
    /// Bytes up to the end of the last complete line.
    pub valid_len: u64,
}

fn err(path: &Path, m: impl std::fmt::Display) -> SweepError {
    SweepError::input(format!("{}: {m}", path.display()))
}

/// Reads a journal, ignoring a partial last line.
pub fn read(path: &Path) -> Result<Found, SweepError> {
    let text = std::fs::read(path).map_err(|e| err(path, e))?;
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, b) in text.iter().enumerate() {
        if *b == b'\n' {
            lines.push(&text[start..i]);
            start = i + 1;
        }
    }
    let valid_len = start as u64;
    let Some((first, rest)) = lines.split_first() else {
        return Err(err(
            path,
            "the journal has no complete header line; remove it (or use --force) to start over",
        ));
    };
    let header: Header = serde_json::from_slice(first)
        .map_err(|e| err(path, format!("line 1 is not a sweep journal header: {e}")))?;
    let mut rows = Vec::with_capacity(rest.len());
    for (n, line) in rest.iter().enumerate() {
        let row: Row = serde_json::from_slice(line).map_err(|e| {
            err(
                path,
                format!(
                    "line {} is damaged ({e}); only a partial last line can be repaired",
                    n + 2
                ),
            )
        })?;
        if row.run >= header.runs {
            return Err(err(
                path,
                format!("line {}: run {} is out of range", n + 2, row.run),
            ));
        }
        rows.push(row);
    }
    Ok(Found {
        header,
        rows,
        valid_len,
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

fn line<T: Serialize>(v: &T) -> String {
    let mut s = serde_json::to_string(v).expect("journal lines serialise");
    s.push('\n');
    s
}

/// The journal open for appending.
pub struct Journal {
    file: std::fs::File,
    path: std::path::PathBuf,
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
        Ok(Journal {
            file,
            path: path.to_path_buf(),
        })
    }

    /// Appends finished runs, one whole line per write, then syncs once.
    pub fn append(&mut self, rows: &[Row]) -> Result<(), SweepError> {
        for r in rows {
            self.file
                .write_all(line(r).as_bytes())
                .map_err(|e| err(&self.path, e))?;
        }
        self.file.sync_data().map_err(|e| err(&self.path, e))
    }
}

/// Rewrites the journal in canonical order (atomically).
pub fn rewrite(path: &Path, header: &Header, rows: &[Row]) -> Result<(), SweepError> {
    let mut text = line(header);
    for r in rows {
        text.push_str(&line(r));
    }
    super::write_file(path, &text).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_last_line_is_ignored_and_cut() {
        let dir = std::env::temp_dir().join(format!("acidbase-journal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let p = dir.join(FILE);
        let h = Header {
            acidbase_sweep: "t".into(),
            fingerprint: "f".into(),
            runs: 3,
            shard: [0, 1],
        };
        let row = |run| Row {
            run,
            digest: "d".into(),
            m: vec!["1".into()],
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
        let found = read(&p).expect("read");
        assert_eq!(found.header, h);
        assert_eq!(found.rows, vec![row(2), row(0)]);
        truncate_to(&p, found.valid_len).expect("truncate");
        let text = std::fs::read_to_string(&p).expect("read");
        assert!(text.ends_with("]}\n"), "{text}");
        // A damaged line in the middle is not silently skipped.
        std::fs::write(&p, format!("{}garbage\n{}", line(&h), line(&row(1)))).expect("write");
        assert!(read(&p)
            .err()
            .expect("damaged")
            .message
            .contains("line 2 is damaged"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
