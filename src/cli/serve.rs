//! `acidbase serve`: binds the socket, prints the URL, and answers requests with
//! [`Lab::handle`] until Ctrl-C. No API logic here: this file speaks HTTP/1.1.
//!
//! A fixed pool of [`CONNECTIONS`] threads each accepts a connection, reads one
//! request (head parsed by `httparse`, body capped at
//! [`crate::serve::Limits::max_body_bytes`]), answers it and closes the connection.
//! A connection silent (or not reading its answer) for [`IDLE`] is dropped, so idle
//! connections, a half-sent request or many tabs hold a thread for seconds at most,
//! and the thread count never grows. A request must arrive whole within
//! [`REQUEST_DEADLINE`] (a client trickling a byte a second holds a thread no longer
//! than that). At most [`RUNS`] requests are answered at once (a run takes a core),
//! the others wait for a turn.

// A request's deadline is wall-clock time, as a socket's timeouts are; no simulation
// runs on this clock.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use super::common::bad;
use super::interrupt;
use crate::run::Registry;
use crate::serve::{ApiError, Lab, Limits, Response};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// Connections served at once.
const CONNECTIONS: usize = 16;

/// Requests answered at once: more tabs (or a page reloaded in a loop) wait rather
/// than start more runs.
const RUNS: usize = 4;

/// How long a connection may stay silent, or not read its answer, before it is
/// dropped; also how often an idle thread looks at the stop flag.
const IDLE: Duration = Duration::from_secs(5);

/// How long a connection has to send its whole request, however it trickles.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);

/// The largest request head (request line and headers).
const MAX_HEAD: usize = 16 << 10;

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
    let listener = match listen(&a.bind, a.port) {
        Ok(l) => l,
        Err(e) => return bad(format!("cannot listen on {}:{}: {e}", a.bind, a.port)),
    };
    let url = match listener.local_addr() {
        Ok(addr) => format!("http://{addr}/"),
        Err(_) => format!("http://{}:{}/", a.bind, a.port),
    };
    interrupt::install();
    sayln!("acidbase serve: {url}");
    warnln!("acidbase: serving the protocol lab; Ctrl-C stops it");
    let turns = Turns::new(RUNS);
    std::thread::scope(|scope| {
        for _ in 0..CONNECTIONS {
            scope.spawn(|| accept_loop(&listener, &lab, &turns));
        }
    });
    interrupt::say_interrupted("the server stopped");
    ExitCode::from(crate::stop::INTERRUPTED_EXIT)
}

/// The listening socket, with [`IDLE`] as its read and write timeouts: `accept`
/// returns after that long with no connection (so the stop flag is polled), and the
/// connections it accepts inherit them.
fn listen(bind: &str, port: u16) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind((bind, port))?;
    let sock = socket2::SockRef::from(&listener);
    sock.set_read_timeout(Some(IDLE))?;
    sock.set_write_timeout(Some(IDLE))?;
    Ok(listener)
}

/// A counting semaphore: at most `n` holders at once.
struct Turns {
    free: Mutex<usize>,
    freed: Condvar,
}

impl Turns {
    fn new(n: usize) -> Self {
        Turns {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        {
            let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
            while *free == 0 {
                free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
            }
            *free -= 1;
        }
        // A bug must cost one answer, not a turn or a thread.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        *self.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.freed.notify_one();
        out.unwrap_or_else(|p| std::panic::resume_unwind(p))
    }
}

/// Accepts and answers connections until Ctrl-C.
fn accept_loop(listener: &TcpListener, lab: &Lab, turns: &Turns) {
    while !crate::stop::requested() {
        let Ok((stream, _)) = listener.accept() else {
            // The timeout (to poll the flag), or a connection that went away.
            continue;
        };
        // Accepted sockets inherit the timeouts on Linux and the BSDs; set them
        // anyway, so no platform waits for ever.
        let _ = stream.set_read_timeout(Some(IDLE));
        let _ = stream.set_write_timeout(Some(IDLE));
        let _ = stream.set_nodelay(true);
        serve_one(stream, lab, turns);
    }
}

/// Reads one request from `stream`, answers it, and closes the connection.
fn serve_one(stream: TcpStream, lab: &Lab, turns: &Turns) {
    let mut stream = Timed {
        stream,
        until: Instant::now() + REQUEST_DEADLINE,
    };
    let response = match read_request(&mut stream, lab.limits().max_body_bytes) {
        Ok(None) => return,
        Ok(Some((method, path, body))) => {
            let answer = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                turns.run(|| lab.handle(&method, &path, &body))
            }));
            answer.unwrap_or_else(|_| {
                Response::error(ApiError {
                    status: 500,
                    error: "the server failed on this request (a bug); it still runs".into(),
                    ..ApiError::default()
                })
            })
        }
        Err(r) => r,
    };
    let _ = write_response(&mut stream.stream, &response);
    let _ = stream.stream.flush();
    let _ = stream.stream.shutdown(std::net::Shutdown::Write);
    // Let the client read the answer before the socket closes (a close with unread
    // input would reset the connection), for one more [`IDLE`] at most.
    stream.until = Instant::now() + IDLE;
    let mut rest = [0u8; 4096];
    let mut drained = 0;
    while let Ok(n) = stream.read(&mut rest) {
        drained += n;
        if n == 0 || drained > 4 << 20 {
            break;
        }
    }
}

/// A connection whose reads fail with `TimedOut` once `until` has passed.
struct Timed {
    stream: TcpStream,
    until: Instant,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if Instant::now() >= self.until {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("not sent within {} s", REQUEST_DEADLINE.as_secs()),
            ));
        }
        self.stream.read(buf)
    }
}

type Request = (String, String, Vec<u8>);

/// The method, path and body of the request on `stream`; `None` if the client
/// closed or fell silent before sending one; an answer for a bad request.
fn read_request(stream: &mut Timed, limit: usize) -> Result<Option<Request>, Response> {
    let mut buf = Vec::with_capacity(2048);
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) if buf.is_empty() => return Ok(None),
            Ok(0) => return Err(bad_request("the request ended before its headers")),
            Err(e) => return Err(read_failed("the request", &e)),
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        let head_len = match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() <= MAX_HEAD => continue,
            Ok(httparse::Status::Partial) => {
                return Err(Response::error(ApiError {
                    status: 431,
                    error: format!("the request's headers are longer than {MAX_HEAD} bytes"),
                    ..ApiError::default()
                }))
            }
            Err(e) => return Err(bad_request(&format!("not an HTTP request: {e}"))),
        };
        let method = req.method.unwrap_or("").to_string();
        let path = req.path.unwrap_or("").to_string();
        let header = |name: &str| {
            req.headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case(name))
                .map(|h| String::from_utf8_lossy(h.value).trim().to_string())
        };
        if header("transfer-encoding").is_some() {
            return Err(Response::error(ApiError {
                status: 411,
                error: "send the body with a Content-Length (no Transfer-Encoding)".into(),
                ..ApiError::default()
            }));
        }
        let length = match header("content-length").map(|v| v.parse::<usize>()) {
            None => 0,
            Some(Ok(n)) => n,
            Some(Err(_)) => return Err(bad_request("Content-Length is not a number")),
        };
        if length > limit {
            return Err(crate::serve::too_large(limit));
        }
        if header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            let _ = stream.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let mut body = buf.split_off(head_len);
        if body.len() < length {
            let missing = (length - body.len()) as u64;
            let mut rest = Vec::new();
            if let Err(e) = (&mut *stream).take(missing).read_to_end(&mut rest) {
                return Err(read_failed("the body", &e));
            }
            body.extend_from_slice(&rest);
        }
        if body.len() < length {
            return Err(bad_request("the body is shorter than its Content-Length"));
        }
        body.truncate(length);
        return Ok(Some((method, path, body)));
    }
}

/// 408 for a request that stalled or trickled past its deadline, else 400.
fn read_failed(what: &str, e: &std::io::Error) -> Response {
    use std::io::ErrorKind::{TimedOut, WouldBlock};
    let status = if matches!(e.kind(), TimedOut | WouldBlock) {
        408
    } else {
        400
    };
    Response::error(ApiError {
        status,
        error: format!("{what} could not be read: {e}"),
        ..ApiError::default()
    })
}

fn bad_request(message: &str) -> Response {
    Response::error(ApiError::bad(message))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        _ => "",
    }
}

fn write_response(stream: &mut TcpStream, r: &Response) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    if let Some(allow) = r.allow {
        head.push_str(&format!("Allow: {allow}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(&r.body)
}
