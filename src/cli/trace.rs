//! `acidbase trace FILE`: a `--trace` file read back as its traces, one transaction's
//! call tree, or OpenTelemetry JSON.

use super::common::{bad, write_file};
use crate::tools::spans::{self, Span};
use std::path::Path;
use std::process::ExitCode;

/// Writes `spans` as OTLP/JSON to `path`, and says so on stderr.
pub(super) fn write_otlp(path: &Path, spans: &[Span], names: &[String]) -> Result<(), ExitCode> {
    let doc = spans::otlp(spans, names);
    let text = serde_json::to_string(&doc)
        .map_err(|e| bad(format!("cannot write the spans as JSON: {e}")))?;
    write_file(path, &text, "OTLP file")?;
    warnln!(
        "acidbase: wrote {} spans as OpenTelemetry JSON to {}",
        spans.len(),
        path.display()
    );
    Ok(())
}

pub(super) fn trace_command(file: &Path, txn: Option<u64>, otlp: Option<&Path>) -> ExitCode {
    match trace_inner(file, txn, otlp) {
        Ok(code) | Err(code) => code,
    }
}

fn trace_inner(file: &Path, txn: Option<u64>, otlp: Option<&Path>) -> Result<ExitCode, ExitCode> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| bad(format!("cannot read the trace {}: {e}", file.display())))?;
    let (names, spans) = spans::read(&text);
    if spans.is_empty() {
        return Err(bad(format!(
            "{} has no spans: is it a --trace file of this version (its first line says \"trace_format\")?",
            file.display()
        )));
    }
    if let Some(p) = otlp {
        write_otlp(p, &spans, &names)?;
    }
    match txn {
        Some(t) => {
            let tree = spans::tree(&spans, spans::txn_trace(t));
            if tree.is_empty() {
                return Err(bad(format!("{} has no trace of txn {t}", file.display())));
            }
            sayln!("txn {t} (trace {}):", spans::txn_trace_id(t));
            for line in tree {
                sayln!("  {line}");
            }
        }
        None if otlp.is_none() => {
            for line in spans::summary(&spans) {
                sayln!("{line}");
            }
        }
        None => {}
    }
    Ok(ExitCode::SUCCESS)
}
