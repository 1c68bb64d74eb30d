//! `acidbase serve`: binds the socket, prints the URL, and has a fixed pool of
//! workers answer the requests with [`Lab::handle`] until Ctrl-C. No API logic here.
//!
//! tiny_http reads each connection on a thread of its own and queues its requests;
//! the intake thread takes them, has each body read on a thread of its own (capped
//! at [`crate::serve::Limits::max_body_bytes`]), and queues the request for the
//! workers. Only the workers run scenarios, so many tabs, a page reloaded in a loop
//! or a client that stops half way through a request cannot start more runs than
//! there are workers, nor hold a worker.

use super::common::bad;
use super::interrupt;
use crate::run::Registry;
use crate::serve::{ApiError, Lab, Limits, Response};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Mutex;
use std::time::Duration;

/// Requests answered at once: more tabs (or a page reloaded in a loop) wait in the
/// queue rather than start more runs. tiny_http reads each connection on a thread of
/// its own; only these workers run scenarios.
const WORKERS: usize = 4;

/// Requests read and waiting for a worker; when full, new ones wait in the server.
const QUEUE: usize = 64;

/// How often an idle worker looks at the stop flag.
const POLL: Duration = Duration::from_millis(200);

/// The flags of `serve`.
pub(super) struct ServeArgs {
    pub(super) scenario: Option<PathBuf>,
    pub(super) port: u16,
    pub(super) bind: String,
    pub(super) max_events: Option<u64>,
}

pub(super) fn serve_command(registry: &Registry, a: ServeArgs) -> ExitCode {
    let initial = match &a.scenario {
        None => None,
        Some(p) => {
            // Validated now, so a bad file is said at once, located.
            if let Err(e) = registry.load(p) {
                return bad(e);
            }
            let text = match std::fs::read_to_string(p) {
                Ok(t) => t,
                Err(e) => return bad(format!("cannot read {}: {e}", p.display())),
            };
            let name = p
                .file_stem()
                .map_or_else(|| "scenario".into(), |s| s.to_string_lossy().into_owned());
            Some((name, text))
        }
    };
    let mut limits = Limits::default();
    if let Some(m) = a.max_events {
        limits.max_events = m;
    }
    let lab = Lab::new(registry.clone(), limits, initial);
    let server = match tiny_http::Server::http((a.bind.as_str(), a.port)) {
        Ok(s) => s,
        Err(e) => return bad(format!("cannot listen on {}:{}: {e}", a.bind, a.port)),
    };
    let url = match server.server_addr().to_ip() {
        Some(addr) => format!("http://{addr}/"),
        None => format!("http://{}:{}/", a.bind, a.port),
    };
    interrupt::install();
    sayln!("acidbase serve: {url}");
    warnln!("acidbase: serving the protocol lab; Ctrl-C stops it");
    let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
    let queue = Mutex::new(queue);
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| worker(&queue, &lab));
        }
        intake(&server, &jobs, lab.limits().max_body_bytes);
    });
    interrupt::say_interrupted("the server stopped");
    ExitCode::from(crate::stop::INTERRUPTED_EXIT)
}

/// A request with its body read (or the answer to give instead: too large, unreadable).
type Job = (tiny_http::Request, Result<Vec<u8>, Response>);

/// Takes requests from the server until Ctrl-C. A body is read on a thread of its
/// own, so a client that sends half a body holds that thread (until it closes the
/// connection), never a worker.
fn intake(server: &tiny_http::Server, jobs: &SyncSender<Job>, limit: usize) {
    while !crate::stop::requested() {
        let mut request = match server.recv_timeout(POLL) {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                warnln!("acidbase: the server stopped accepting connections: {e}");
                crate::stop::request();
                return;
            }
        };
        if request.body_length() == Some(0) {
            let _ = jobs.send((request, Ok(Vec::new())));
            continue;
        }
        let jobs = jobs.clone();
        std::thread::spawn(move || {
            let body = read_body(&mut request, limit);
            let _ = jobs.send((request, body));
        });
    }
}

/// The body, at most `limit` bytes.
fn read_body(request: &mut tiny_http::Request, limit: usize) -> Result<Vec<u8>, Response> {
    let too_large = || crate::serve::too_large(limit);
    if request.body_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    match request
        .as_reader()
        .take(limit as u64 + 1)
        .read_to_end(&mut body)
    {
        Err(e) => Err(Response::error(ApiError::bad(format!(
            "the request body could not be read: {e}"
        )))),
        Ok(_) if body.len() > limit => Err(too_large()),
        Ok(_) => Ok(body),
    }
}

/// Answers requests until Ctrl-C (polled between requests, and every [`POLL`]
/// while idle).
fn worker(queue: &Mutex<Receiver<Job>>, lab: &Lab) {
    while !crate::stop::requested() {
        let job = match queue.lock() {
            Ok(q) => q.recv_timeout(POLL),
            Err(_) => return,
        };
        let (request, body) = match job {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let response = match body {
            Err(r) => r,
            Ok(body) => {
                let method = request.method().as_str().to_string();
                let url = request.url().to_string();
                // A bug must cost one answer, not a worker.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    lab.handle(&method, &url, &body)
                }))
                .unwrap_or_else(|_| {
                    Response::error(ApiError {
                        status: 500,
                        error: "the server failed on this request (a bug); it still runs".into(),
                        ..ApiError::default()
                    })
                })
            }
        };
        let _ = request.respond(to_http(response));
    }
}

fn to_http(r: Response) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut out = tiny_http::Response::from_data(r.body).with_status_code(r.status);
    let headers = [
        ("Content-Type", Some(r.content_type)),
        ("Allow", r.allow),
        ("Cache-Control", Some("no-store")),
    ];
    for (k, v) in headers {
        if let Some(v) = v {
            if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                out = out.with_header(h);
            }
        }
    }
    out
}
