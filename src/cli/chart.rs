//! `acidbase chart`: redraw charts from a sweep's saved results.

use super::args::{ChartFormatArg, ChartKind, StatArg};
use crate::tools::chart::cli::{redraw, Kind, Request};
use crate::tools::chart::Stat;
use std::path::PathBuf;
use std::process::ExitCode;

/// The flags of `chart`, as the command uses them.
pub(super) struct ChartArgs {
    pub(super) results: PathBuf,
    pub(super) kind: Option<ChartKind>,
    pub(super) metric: Option<String>,
    pub(super) x: Option<String>,
    pub(super) y: Option<String>,
    pub(super) stat: StatArg,
    pub(super) title: Option<String>,
    pub(super) format: ChartFormatArg,
    pub(super) out: Option<PathBuf>,
}

/// `acidbase chart`: the flags turned into the library's request, the files it wrote
/// printed one a line.
pub(super) fn chart_command(a: ChartArgs) -> ExitCode {
    let stat = match a.stat {
        StatArg::Mean => Stat::Mean,
        StatArg::Share => Stat::Share,
    };
    let kind = a.kind.map(|k| match k {
        ChartKind::Line => Kind::Line,
        ChartKind::Cdf => Kind::Cdf,
        ChartKind::Bars => Kind::Bars,
        ChartKind::Scatter => Kind::Scatter,
        ChartKind::Heatmap => Kind::Heatmap,
    });
    let req = Request {
        results: a.results,
        kind,
        metric: a.metric,
        x: a.x,
        y: a.y,
        stat,
        title: a.title,
        format: a.format.into(),
        out: a.out,
    };
    match redraw(&req) {
        Ok(files) => {
            for f in files {
                sayln!("{}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            warnln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
