//! `acidbase serve`: the protocol lab's page and its JSON API, as plain functions.
//!
//! [`Lab::handle`] answers one request (method, path, body) with a [`Response`]
//! (status, content type, body); the command line (`src/cli/serve.rs`) only binds the
//! socket, reads requests and writes the answers. The API's reference, with its
//! limits: `book/src/serve.md`. Nothing here computes what the library does not: a
//! run is [`crate::run::Validated::run_with`], its numbers are the report's.

use crate::run::Registry;
use serde::Serialize;
use serde_json::json;

pub mod run;
pub mod shipped;

pub use run::{FaultRequest, Limits, MessageRef, RunRequest, RunResponse};

/// The page's files, built into the binary (no CDN, no file read at run time).
pub const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../../assets/serve/index.html"),
    ),
    (
        "/index.html",
        "text/html; charset=utf-8",
        include_str!("../../assets/serve/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/serve/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/serve/style.css"),
    ),
];

const JSON: &str = "application/json";

/// An answer to one request.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// For a 405: the methods the path takes.
    pub allow: Option<&'static str>,
    pub body: Vec<u8>,
}

impl Response {
    fn ok(content_type: &'static str, body: impl Into<Vec<u8>>) -> Self {
        Response {
            status: 200,
            content_type,
            allow: None,
            body: body.into(),
        }
    }

    fn json(status: u16, value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                content_type: JSON,
                allow: None,
                body,
            },
            Err(e) => Response::error(ApiError {
                status: 500,
                error: format!("the answer could not be written as JSON: {e}"),
                ..ApiError::default()
            }),
        }
    }

    /// The JSON error `{"error": …}` with its status.
    pub fn error(e: ApiError) -> Self {
        let status = e.status;
        let body = serde_json::to_vec(&e).unwrap_or_else(|_| b"{\"error\":\"error\"}".to_vec());
        Response {
            status,
            content_type: JSON,
            allow: None,
            body,
        }
    }
}

/// A request the API refuses: `{"error": message}`, with the scenario's line and
/// column when the error is in its text, and the limit a run would exceed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ApiError {
    #[serde(skip)]
    pub status: u16,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<&'static str>,
}

impl ApiError {
    /// A 400.
    pub fn bad(message: impl Into<String>) -> Self {
        ApiError {
            status: 400,
            error: message.into(),
            ..ApiError::default()
        }
    }

    fn status(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            error: message.into(),
            ..ApiError::default()
        }
    }
}

/// One scenario the page offers (`GET /api/scenarios`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ScenarioEntry {
    pub name: String,
    pub protocol: String,
    /// Its description, else its first comment line.
    pub title: String,
}

/// The title of a scenario's text: its `description`, else its first comment line
/// (without a leading `name:`).
fn title(name: &str, text: &str) -> (String, String) {
    let read = crate::scenario::read(text, &format!("{name}.ron"));
    let (protocol, description) = match &read {
        Ok(l) => (l.scenario.protocol.clone(), l.scenario.description.clone()),
        Err(_) => (String::new(), String::new()),
    };
    if !description.trim().is_empty() {
        return (protocol, description.trim().to_string());
    }
    let comment = text
        .lines()
        .map(str::trim)
        .find_map(|l| l.strip_prefix("//"))
        .map(str::trim)
        .unwrap_or("");
    let comment = comment
        .strip_prefix(&format!("{name}:"))
        .unwrap_or(comment)
        .trim();
    (protocol, comment.to_string())
}

/// The server's state: the protocols it runs, its limits, and the scenario given on
/// the command line (offered first by the page).
pub struct Lab {
    registry: Registry,
    limits: Limits,
    /// (name, RON text) of the scenario given on the command line, if any.
    initial: Option<(String, String)>,
    list: Vec<ScenarioEntry>,
}

impl Lab {
    /// A lab over `registry`'s protocols; `initial` is a scenario file's (name, text)
    /// given on the command line, listed with the shipped ones (it replaces a shipped
    /// one of the same name).
    pub fn new(registry: Registry, limits: Limits, initial: Option<(String, String)>) -> Lab {
        let mut list: Vec<ScenarioEntry> = shipped::SHIPPED
            .iter()
            .filter(|(n, _)| initial.as_ref().is_none_or(|(i, _)| i != n))
            .copied()
            .chain(initial.iter().map(|(n, t)| (n.as_str(), t.as_str())))
            .map(|(name, text)| {
                let (protocol, title) = title(name, text);
                ScenarioEntry {
                    name: name.to_string(),
                    protocol,
                    title,
                }
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Lab {
            registry,
            limits,
            initial,
            list,
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// `GET /api/scenarios`.
    pub fn scenarios(&self) -> &[ScenarioEntry] {
        &self.list
    }

    /// `GET /api/scenarios/NAME`: the RON text.
    pub fn scenario_text(&self, name: &str) -> Option<&str> {
        if let Some((n, t)) = &self.initial {
            if n == name {
                return Some(t);
            }
        }
        shipped::SHIPPED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| *t)
    }

    /// `GET /api/info`: the version, the protocols, the scenario to show first and
    /// the limits.
    pub fn info(&self) -> serde_json::Value {
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "protocols": self.registry.names(),
            "initial": self.initial.as_ref().map_or(default_name(), |(n, _)| n.as_str()),
            "limits": self.limits,
        })
    }

    /// `POST /api/run`.
    pub fn run(&self, req: &RunRequest) -> Result<RunResponse, ApiError> {
        run::run(&self.registry, req, &self.limits)
    }

    /// Answers one request: `path` may carry a query (ignored); `body` is the
    /// request's body, already cut at [`Limits::max_body_bytes`] by the caller (which
    /// answers [`Lab::too_large`] instead).
    pub fn handle(&self, method: &str, path: &str, body: &[u8]) -> Response {
        let path = path.split(['?', '#']).next().unwrap_or("");
        let get = method == "GET";
        if let Some((_, ct, text)) = ASSETS.iter().find(|(p, _, _)| *p == path) {
            return if get {
                Response::ok(ct, text.as_bytes())
            } else {
                not_allowed(method, path, "GET")
            };
        }
        match path {
            "/api/info" if get => Response::json(200, &self.info()),
            "/api/scenarios" if get => Response::json(200, &self.list),
            "/api/run" if method == "POST" => match serde_json::from_slice::<RunRequest>(body) {
                Err(e) => Response::error(ApiError::bad(format!(
                    "the body is not a run request (JSON): {e}"
                ))),
                Ok(req) => match self.run(&req) {
                    Ok(r) => Response::json(200, &r),
                    Err(e) => Response::error(e),
                },
            },
            "/api/info" | "/api/scenarios" => not_allowed(method, path, "GET"),
            "/api/run" => not_allowed(method, path, "POST"),
            _ => match path.strip_prefix("/api/scenarios/") {
                Some(name) if get => match self.scenario_text(name) {
                    Some(t) => Response::ok("text/plain; charset=utf-8", t.as_bytes()),
                    None => Response::error(ApiError::status(
                        404,
                        format!("no scenario named {name:?} (GET /api/scenarios lists them)"),
                    )),
                },
                Some(_) => not_allowed(method, path, "GET"),
                None => Response::error(ApiError::status(404, format!("no such page: {path}"))),
            },
        }
    }

    /// The answer to a body larger than [`Limits::max_body_bytes`].
    pub fn too_large(&self) -> Response {
        too_large(self.limits.max_body_bytes)
    }
}

/// The answer (413) to a body larger than `max_body_bytes`.
pub fn too_large(max_body_bytes: usize) -> Response {
    Response::error(ApiError::status(
        413,
        format!("the request body is larger than the server's limit of {max_body_bytes} bytes"),
    ))
}

/// The built-in default scenario's name (`2pc-coordinator-crash`).
fn default_name() -> &'static str {
    let file = crate::scenario::DEFAULT_SCENARIO_NAME;
    let file = file.strip_prefix("scenarios/").unwrap_or(file);
    file.split(".ron").next().unwrap_or(file)
}

fn not_allowed(method: &str, path: &str, allow: &'static str) -> Response {
    let mut r = Response::error(ApiError::status(
        405,
        format!("{method} is not allowed on {path}; use {allow}"),
    ));
    r.allow = Some(allow);
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn lab() -> Lab {
        Lab::new(Registry::builtin(), Limits::default(), None)
    }

    fn json(r: &Response) -> Value {
        serde_json::from_slice(&r.body).expect("a JSON body")
    }

    #[test]
    fn the_built_in_scenarios_are_exactly_the_files_in_scenarios() {
        let mut files: Vec<(String, String)> = std::fs::read_dir("scenarios")
            .expect("run from the crate root")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "ron"))
            .map(|p| {
                let name = p
                    .file_stem()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned();
                (name, std::fs::read_to_string(&p).expect("readable"))
            })
            .collect();
        files.sort();
        let shipped: Vec<(String, String)> = shipped::SHIPPED
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        let names = |l: &[(String, String)]| l.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(&shipped),
            names(&files),
            "src/serve/shipped.rs must list every scenarios/*.ron, sorted by name"
        );
        assert_eq!(shipped, files);
    }

    #[test]
    fn the_page_and_its_assets_are_served_with_their_types() {
        let lab = lab();
        for (path, ct, needle) in [
            ("/", "text/html; charset=utf-8", "<html"),
            ("/index.html?x=1", "text/html; charset=utf-8", "<html"),
            ("/app.js", "text/javascript; charset=utf-8", "/api/"),
            ("/style.css", "text/css; charset=utf-8", "{"),
        ] {
            let r = lab.handle("GET", path, b"");
            assert_eq!((r.status, r.content_type), (200, ct), "{path}");
            assert!(String::from_utf8_lossy(&r.body).contains(needle), "{path}");
        }
    }

    #[test]
    fn the_page_loads_nothing_from_the_internet() {
        for (path, _, text) in ASSETS {
            for bad in ["http://", "https://", "//cdn", "@import url("] {
                assert!(!text.contains(bad), "{path} refers to {bad}");
            }
        }
    }

    #[test]
    fn the_list_holds_every_shipped_scenario_with_its_protocol_and_title() {
        let r = lab().handle("GET", "/api/scenarios", b"");
        assert_eq!(r.status, 200);
        let list = json(&r);
        let list = list.as_array().expect("a list");
        assert_eq!(list.len(), shipped::SHIPPED.len());
        let names: Vec<&str> = list.iter().filter_map(|e| e["name"].as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        let crash = list
            .iter()
            .find(|e| e["name"] == "2pc-coordinator-crash")
            .expect("listed");
        assert_eq!(crash["protocol"], "2pc");
        assert!(crash["title"]
            .as_str()
            .is_some_and(|t| t.starts_with("The TM crashes")));
        assert!(list
            .iter()
            .all(|e| e["title"].as_str().is_some_and(|t| !t.is_empty())));
    }

    #[test]
    fn a_scenario_is_served_as_its_text_and_an_unknown_one_is_404() {
        let lab = lab();
        let r = lab.handle("GET", "/api/scenarios/2pc-happy", b"");
        assert_eq!(
            (r.status, r.content_type),
            (200, "text/plain; charset=utf-8")
        );
        assert_eq!(
            r.body,
            include_str!("../../scenarios/2pc-happy.ron").as_bytes()
        );
        let r = lab.handle("GET", "/api/scenarios/nope", b"");
        assert_eq!(r.status, 404);
        assert!(json(&r)["error"]
            .as_str()
            .is_some_and(|e| e.contains("nope")));
    }

    #[test]
    fn unknown_paths_wrong_methods_and_garbage_are_4xx_with_a_message() {
        let lab = lab();
        let cases: [(&str, &str, &[u8], u16); 7] = [
            ("GET", "/nope", b"", 404),
            ("POST", "/", b"", 405),
            ("GET", "/api/run", b"", 405),
            ("DELETE", "/api/scenarios/2pc-happy", b"", 405),
            ("POST", "/api/run", b"{not json", 400),
            ("POST", "/api/run", b"{\"scenario\": 3}", 400),
            ("POST", "/api/run", b"{\"scenery\": \"()\"}", 400),
        ];
        for (method, path, body, status) in cases {
            let r = lab.handle(method, path, body);
            assert_eq!(r.status, status, "{method} {path}");
            assert!(json(&r)["error"].as_str().is_some_and(|e| !e.is_empty()));
        }
        assert_eq!(lab.handle("POST", "/", b"").allow, Some("GET"));
        assert_eq!(lab.too_large().status, 413);
    }

    #[test]
    fn info_names_the_protocols_the_first_scenario_and_the_limits() {
        let v = json(&lab().handle("GET", "/api/info", b""));
        assert_eq!(v["initial"], "2pc-coordinator-crash");
        assert!(v["protocols"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x == "3pc")));
        assert_eq!(v["limits"]["max_events"], 2_000_000);
        let mine = Lab::new(
            Registry::builtin(),
            Limits::default(),
            Some(("mine".into(), "(rms: 2)".into())),
        );
        assert_eq!(
            json(&mine.handle("GET", "/api/info", b""))["initial"],
            "mine"
        );
        assert_eq!(mine.scenario_text("mine"), Some("(rms: 2)"));
        assert_eq!(mine.scenarios().len(), shipped::SHIPPED.len() + 1);
    }
}
