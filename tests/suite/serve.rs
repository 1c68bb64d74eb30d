//! `acidbase serve` as a script (or the page) uses it: the real binary on a free
//! port, spoken to over HTTP with a plain `TcpStream`. Its answers must be the
//! command line's own: the same digest and report as `acidbase run`, and a
//! scenario that `acidbase run` replays to the same digest. Bad requests get a 4xx
//! with a message and the server goes on answering.

use crate::common::{acidbase, path_str, stdout, TempDir};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const CRASH: &str = "scenarios/2pc-coordinator-crash.ron";

/// A running `acidbase serve`, stopped when dropped.
struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    addr: String,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_acidbase"))
            .arg("serve")
            .args(["--port", "0"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the acidbase binary should start");
        let out = child.stdout.take().expect("piped");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("serve prints its URL");
        let addr = line
            .trim()
            .strip_prefix("acidbase serve: http://")
            .and_then(|a| a.strip_suffix('/'))
            .unwrap_or_else(|| panic!("not the URL line: {line:?}"))
            .to_string();
        Server { child, addr }
    }

    /// One request (HTTP/1.0, so the answer ends when the server closes).
    fn request(&self, method: &str, path: &str, body: &[u8]) -> Answer {
        let mut s = TcpStream::connect(&self.addr).expect("the server accepts");
        s.set_read_timeout(Some(Duration::from_secs(300)))
            .expect("a timeout");
        let head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            self.addr,
            body.len()
        );
        s.write_all(head.as_bytes()).expect("sent");
        // A server may answer (413) before it has read a large body, and close.
        let _ = s.write_all(body);
        let mut raw = Vec::new();
        let _ = s.read_to_end(&mut raw);
        Answer::parse(&raw)
    }

    fn get(&self, path: &str) -> Answer {
        self.request("GET", path, b"")
    }

    fn post(&self, path: &str, body: &Value) -> Answer {
        self.request("POST", path, body.to_string().as_bytes())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Answer {
    status: u16,
    headers: String,
    body: Vec<u8>,
}

impl Answer {
    fn parse(raw: &[u8]) -> Answer {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer: {:?}", String::from_utf8_lossy(raw)));
        let headers = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = headers
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        Answer {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(300)])
            )
        })
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn content_type(&self) -> String {
        self.headers
            .lines()
            .find_map(|l| {
                l.split_once(':')
                    .filter(|(k, _)| k.eq_ignore_ascii_case("content-type"))
            })
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }
}

fn file(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .expect("a shipped file")
}

fn run_request(faults: Value) -> Value {
    json!({"scenario": file(CRASH), "name": "2pc-coordinator-crash", "faults": faults})
}

/// `acidbase run FILE --format json`, parsed.
fn cli_report(path: &str) -> Value {
    let o = acidbase(&["run", path, "--format", "json"]);
    serde_json::from_str(&stdout(&o)).expect("run prints JSON")
}

#[test]
fn the_page_and_its_files_load_from_the_binary() {
    let s = Server::start(&[]);
    for (path, ct) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let a = s.get(path);
        assert_eq!((a.status, a.content_type().as_str()), (200, ct), "{path}");
        assert!(!a.body.is_empty());
    }
    assert!(s.get("/").text().contains("<html"));
    let list = s.get("/api/scenarios").json();
    let crash = list
        .as_array()
        .and_then(|l| l.iter().find(|e| e["name"] == "2pc-coordinator-crash"))
        .expect("2pc-coordinator-crash is listed");
    assert_eq!(crash["protocol"], "2pc");
    let text = s.get("/api/scenarios/2pc-coordinator-crash");
    assert_eq!(text.content_type(), "text/plain; charset=utf-8");
    assert_eq!(text.text(), file(CRASH));
}

#[test]
fn a_run_answers_what_acidbase_run_prints_and_its_ron_replays_to_the_same_digest() {
    let s = Server::start(&[]);
    let a = s.post("/api/run", &run_request(json!([])));
    assert_eq!(a.status, 200, "{}", a.text());
    let r = a.json();
    let cli = cli_report(CRASH);
    assert_eq!(r["digest"], cli["digest"]);
    assert_eq!(
        r["report"], cli,
        "the report is run's JSON, nothing recomputed"
    );
    assert_eq!(r["report"]["locks"]["blocked"], 3);
    assert_eq!(r["nodes"], json!(["tm", "rm1", "rm2", "rm3", "client"]));
    assert!(r["story"].as_str().is_some_and(|t| t.contains("in doubt")));
    assert!(r["events"].as_array().is_some_and(|e| e.len() > 1000));
    assert_eq!(r["truncated"], false);
    let dir = TempDir::new("serve-replay");
    let edited = dir.write("edited.ron", r["scenario_ron"].as_str().expect("RON"));
    assert_eq!(cli_report(path_str(&edited))["digest"], r["digest"]);
}

#[test]
fn a_crash_added_on_the_page_changes_the_counts_and_replays_on_the_command_line() {
    let s = Server::start(&[]);
    let plain = s.post("/api/run", &run_request(json!([]))).json();
    let a = s.post(
        "/api/run",
        &run_request(
            json!([{"crash": {"node": "rm1", "at_ms": 5, "restart_ms": 600}},
                            {"lose": {"send": 4}}]),
        ),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let r = a.json();
    assert_ne!(r["digest"], plain["digest"]);
    assert_eq!(r["report"]["locks"]["blocked"], 1);
    assert_eq!(
        r["applied_faults"][1],
        json!({"lose": {"from": "tm", "to": "rm3", "nth": 1}})
    );
    let dir = TempDir::new("serve-crash");
    let edited = dir.write("edited.ron", r["scenario_ron"].as_str().expect("RON"));
    let cli = cli_report(path_str(&edited));
    assert_eq!(cli["digest"], r["digest"]);
    assert_eq!(cli, r["report"]);
}

#[test]
fn bad_requests_get_a_4xx_with_a_message_and_the_server_goes_on() {
    let s = Server::start(&[]);
    let check = |a: Answer, status: u16| -> Value {
        assert_eq!(a.status, status, "{}", a.text());
        let v = a.json();
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
        assert_eq!(s.get("/api/scenarios").status, 200, "still answering");
        v
    };
    check(s.request("POST", "/api/run", b"{\"scenario\": "), 400);
    check(s.request("POST", "/api/run", b"\xff\xfe garbage"), 400);
    let bad = check(
        s.post(
            "/api/run",
            &json!({"scenario": "(\n  rms: 2,\n  seed: \"x\",\n)"}),
        ),
        400,
    );
    assert_eq!(
        (&bad["line"], &bad["column"]),
        (&json!(3), &json!(8)),
        "{bad}"
    );
    let node = check(
        s.post(
            "/api/run",
            &run_request(json!([{"crash": {"node": "rm7", "at_ms": 5}}])),
        ),
        400,
    );
    assert!(node["error"].as_str().is_some_and(|e| e.contains("rm7")));
    let huge = vec![b' '; 2 << 20];
    check(s.request("POST", "/api/run", &huge), 413);
    check(s.get("/nope"), 404);
    check(s.get("/api/scenarios/nope"), 404);
    let wrong = s.get("/api/run");
    assert!(wrong.headers.contains("Allow: POST"), "{}", wrong.headers);
    check(wrong, 405);
    check(s.request("DELETE", "/", b""), 405);
}

#[test]
fn fifty_connections_some_left_idle_do_not_stop_it_answering() {
    let s = Server::start(&[]);
    // 30 connections that never send a byte, and 5 that send half a request.
    let mut idle: Vec<TcpStream> = (0..30)
        .map(|_| TcpStream::connect(&s.addr).expect("accepted"))
        .collect();
    for _ in 0..5 {
        let mut c = TcpStream::connect(&s.addr).expect("accepted");
        c.write_all(b"POST /api/run HTTP/1.1\r\nContent-Length: 100\r\n\r\n{")
            .expect("sent");
        idle.push(c);
    }
    let body = run_request(json!([]));
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..15)
            .map(|i| {
                let (s, body) = (&s, &body);
                scope.spawn(move || {
                    if i % 3 == 0 {
                        s.post("/api/run", body).json()["digest"].clone()
                    } else {
                        Value::from(s.get("/api/scenarios").status)
                    }
                })
            })
            .collect();
        for (i, w) in workers.into_iter().enumerate() {
            let got = w.join().expect("the client thread");
            if i % 3 == 0 {
                assert_eq!(got, "da3e7e546144baac");
            } else {
                assert_eq!(got, 200);
            }
        }
    });
    assert_eq!(s.get("/").status, 200);
    drop(idle);
    assert_eq!(s.get("/api/info").status, 200);
}

#[test]
fn a_run_too_large_is_refused_naming_the_limit_and_long_event_lists_are_cut() {
    let s = Server::start(&[]);
    let huge = "(duration_ms: 1000000, clients: (load: Open(rate_per_s: 10000)))";
    let a = s.post("/api/run", &json!({"scenario": huge}));
    assert_eq!(a.status, 422, "{}", a.text());
    let e = a.json();
    assert_eq!(e["limit"], "max_events");
    assert!(e["error"]
        .as_str()
        .is_some_and(|m| m.contains("2000000 events")));
    // flash-sale writes about 21,000 trace lines: only the first 20,000 are sent.
    let a = s.post(
        "/api/run",
        &json!({"scenario": file("scenarios/flash-sale.ron"), "name": "flash-sale"}),
    );
    assert_eq!(a.status, 200, "{}", a.text());
    let r = a.json();
    assert_eq!(r["truncated"], true);
    assert_eq!(r["events"].as_array().map(Vec::len), Some(20_000));
    assert!(r["limits"]["events_total"]
        .as_u64()
        .is_some_and(|n| n > 20_000));
    assert_eq!(
        r["digest"],
        cli_report("scenarios/flash-sale.ron")["digest"]
    );
    // A server with a small limit cuts the run at it (and says so) or refuses it.
    let small = Server::start(&["--max-events", "300"]);
    let a = small.post("/api/run", &run_request(json!([])));
    assert_eq!(a.status, 422, "{}", a.text());
}

#[test]
fn the_scenario_on_the_command_line_is_offered_first_and_ctrl_c_stops_the_server() {
    let mut s = Server::start(&["scenarios/2pc-partition.ron"]);
    assert_eq!(s.get("/api/info").json()["initial"], "2pc-partition");
    let pid = s.child.id().to_string();
    let killed = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let status = s.child.wait().expect("the server ends");
    assert_eq!(status.code(), Some(130));
    let o = acidbase(&["serve", "--port", "0", "no-such-file.ron"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // the client's own clock
fn a_request_trickled_a_byte_at_a_time_is_cut_at_its_deadline_and_others_are_answered() {
    let s = Server::start(&[]);
    let mut slow = TcpStream::connect(&s.addr).expect("accepted");
    slow.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("a timeout");
    let trickler = std::thread::spawn(move || {
        // A header line that never ends, one byte every 0.3 s: never silent for
        // long, never complete.
        let _ = slow.write_all(b"GET / HTTP/1.1\r\nX-Slow: ");
        let started = std::time::Instant::now();
        let mut raw = Vec::new();
        while started.elapsed() < Duration::from_secs(30) {
            if slow.write_all(b"a").is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
            slow.set_nonblocking(true).expect("nonblocking");
            let mut buf = [0u8; 4096];
            match slow.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(_) => {}
            }
            slow.set_nonblocking(false).expect("blocking");
        }
        (started.elapsed(), raw)
    });
    assert_eq!(s.get("/api/info").status, 200);
    let (took, raw) = trickler.join().expect("the trickling client");
    assert!(
        took < Duration::from_secs(25),
        "the trickled request held its thread for {took:?}"
    );
    assert_eq!(Answer::parse(&raw).status, 408);
    assert_eq!(s.get("/api/info").status, 200);
}
