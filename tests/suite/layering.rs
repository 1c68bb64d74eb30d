//! The crate's layers, checked: every top-level module may use only modules on lower
//! layers, so the dependency graph between them has no cycle and a reader can learn
//! the crate bottom-up. The table is the map; a new module must be placed in it.
//!
//! The scan is textual (no parser crate): comments, strings (but for a string that is
//! a crate path, as serde's `deserialize_with` takes) and `#[cfg(test)]` items are
//! blanked out, then every `crate::X` (and `use crate::{X, Y}`) is a reference to `X`.
//! In the binary's own modules (`main.rs` declares them) `acidbase::X` counts as well.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every top-level module and its layer: lowest = most basic. A module may use modules
/// on lower layers only; two modules on one layer may not use each other at all.
const LAYERS: &[(&str, u32)] = &[
    // Foundations, with no crate dependency: seeded streams, id maps and sets, a
    // histogram, the names of nodes and transactions.
    ("rng", 0),
    ("idmap", 0),
    ("seqset", 0),
    ("stats", 0),
    ("unique_map", 0),
    ("ids", 0),
    // "Did you mean", and the request to stop long work early (Ctrl-C).
    ("suggest", 0),
    ("stop", 0),
    // What a resource manager guards, then the vocabulary nodes report in (audits of
    // stores among it), then the node API that reports it, and properties over it.
    ("store", 10),
    ("observe", 20),
    ("node", 30),
    ("property", 35),
    // The world's physics and the engine that runs it.
    ("network", 40),
    ("faults", 50),
    ("engine", 60),
    ("workload", 70),
    // The checkers, a run's report (what it holds and how it reads: the run builds
    // it), the scenario schema and its validation (expectations name report metrics).
    ("checkers", 80),
    ("report", 90),
    ("scenario", 100),
    // The stories told of a run (its description and guards are the scenario's; the
    // protocols' story hooks name its places).
    ("story", 105),
    // The exhaustive explorer (its world model reads scenarios and properties), the
    // protocols (each builds its world from a scenario), the registry that runs them,
    // scripts the network and builds the report.
    ("exhaustive", 110),
    ("protocols", 120),
    ("run", 130),
    // The tools built on runs (src/tools/: compare, explore, swarm, shrink, schedule,
    // bench, tracelog, spans, diagram, sweep, chart, progress).
    ("tools", 140),
    // The protocol lab's API (`acidbase serve`): plain functions over runs and tools.
    ("serve", 150),
    // The user-protocol testing API, the fuzz entries, the command line.
    ("testing", 160),
    ("fuzzing", 170),
    ("cli", 180),
];

/// Names the crate root re-exports from inside a module (`pub use a::b;` in lib.rs):
/// (name, the module it lives in). A path through one is a path into that module.
const ALIASES: &[(&str, &str)] = &[];

/// Imports that break the layering on purpose: (from, to, why). Keep it short.
const ALLOWED: &[(&str, &str, &str)] = &[];

/// One source file: its path (for messages), its top-level module, whether it belongs
/// to the binary (then `acidbase::` names the library), and its text.
struct SourceFile {
    path: String,
    module: String,
    in_bin: bool,
    text: String,
}

/// One reference from a file to a top-level module.
#[derive(Debug, PartialEq)]
struct Reference {
    line: usize,
    target: String,
}

fn layer_of(module: &str) -> Option<u32> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|&(_, l)| l)
}

fn is_ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The text with comments (doc comments included), string and char literals replaced
/// by spaces; newlines are kept so that offsets still map to the same lines.
fn blank_comments_and_literals(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to.min(b.len())] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == b'/' && next == Some(b'/') {
            let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if c == b'/' && next == Some(b'*') {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (1, i + 2);
            while j < b.len() && depth > 0 {
                if b[j] == b'/' && b.get(j + 1) == Some(&b'*') {
                    depth += 1;
                    j += 2;
                } else if b[j] == b'*' && b.get(j + 1) == Some(&b'/') {
                    depth -= 1;
                    j += 2;
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (c == b'r' || (c == b'b' && next == Some(b'r')))
            && (i == 0 || !is_ident_char(b[i - 1]))
            && {
                let k = if c == b'b' { i + 2 } else { i + 1 };
                let hashes = b[k..].iter().take_while(|&&h| h == b'#').count();
                b.get(k + hashes) == Some(&b'"')
            }
        {
            // Raw string: r#"..."# with any number of hashes.
            let k = if c == b'b' { i + 2 } else { i + 1 };
            let hashes = b[k..].iter().take_while(|&&h| h == b'#').count();
            let close = format!("\"{}", "#".repeat(hashes));
            let body = k + hashes + 1;
            let end = src[body..]
                .find(&close)
                .map_or(b.len(), |n| body + n + close.len());
            blank(&mut out, i, end);
            i = end;
        } else if c == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            // A string that is nothing but a path into the crate names a module as
            // code does (`#[serde(deserialize_with = "crate::unique_map::deserialize")]`).
            let body = &src[i + 1..j.min(b.len())];
            let is_path =
                body.starts_with("crate::") && body.bytes().all(|c| is_ident_char(c) || c == b':');
            if is_path {
                blank(&mut out, i, i + 1);
                blank(&mut out, j, j + 1);
            } else {
                blank(&mut out, i, j + 1);
            }
            i = j + 1;
        } else if c == b'\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a): a lifetime has
            // no closing quote right after its first character.
            if next == Some(b'\\') {
                let mut j = i + 2;
                while j < b.len() && b[j] != b'\'' {
                    j += 1;
                }
                blank(&mut out, i, j + 1);
                i = j + 1;
            } else if let Some(len) = src[i + 1..].chars().next().map(char::len_utf8) {
                if b.get(i + 1 + len) == Some(&b'\'') {
                    blank(&mut out, i, i + 2 + len);
                    i += 2 + len;
                } else {
                    i += 1;
                }
            } else {
                i += 1;
            }
        } else if c.is_ascii() {
            i += 1;
        } else {
            // Skip the rest of a multi-byte character.
            i += src[i..].chars().next().map_or(1, char::len_utf8);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Blanks every item marked `#[cfg(test)]` (a `mod tests { .. }`, a `use`, a helper),
/// and returns the names of `#[cfg(test)] mod name;` declarations, whose files are
/// test-only. `text` must already be free of comments and literals.
fn blank_test_items(text: &str) -> (String, Vec<String>) {
    const ATTR: &str = "#[cfg(test)]";
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut test_mods = Vec::new();
    let mut from = 0;
    while let Some(n) = text[from..].find(ATTR) {
        let start = from + n;
        let mut j = start + ATTR.len();
        // The item ends at the first `;` outside brackets or at the `}` closing its
        // first top-level brace.
        let mut depth = 0i32;
        while j < b.len() {
            match b[j] {
                b'(' | b'[' => depth += 1,
                b')' | b']' => depth -= 1,
                b';' if depth == 0 => break,
                b'{' if depth == 0 => {
                    let mut braces = 0;
                    while j < b.len() {
                        match b[j] {
                            b'{' => braces += 1,
                            b'}' => {
                                braces -= 1;
                                if braces == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                    break;
                }
                _ => {}
            }
            j += 1;
        }
        let end = (j + 1).min(b.len());
        let item: Vec<&str> = text[start + ATTR.len()..end].split_whitespace().collect();
        if let [.., "mod", name] = item.as_slice() {
            if let Some(name) = name.strip_suffix(';') {
                test_mods.push(name.to_string());
            }
        }
        for c in &mut out[start..end] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
        from = end;
    }
    (String::from_utf8_lossy(&out).into_owned(), test_mods)
}

fn ident_at(b: &[u8], mut i: usize) -> (Option<String>, usize) {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let start = i;
    while i < b.len() && is_ident_char(b[i]) {
        i += 1;
    }
    let id = (i > start).then(|| String::from_utf8_lossy(&b[start..i]).into_owned());
    (id, i)
}

/// Every top-level module named after `root::` in already blanked text: `root::x::..`
/// gives `x`, `root::{x, y::z}` gives `x` and `y`.
fn references(text: &str, root: &str) -> Vec<Reference> {
    let b = text.as_bytes();
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    let mut refs = Vec::new();
    let mut from = 0;
    while let Some(n) = text[from..].find(root) {
        let at = from + n;
        from = at + root.len();
        if (at > 0 && is_ident_char(b[at - 1])) || !text[from..].starts_with("::") {
            continue;
        }
        let mut i = from + 2;
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if b.get(i) == Some(&b'{') {
            // A group: the first identifier of each element at brace depth 1.
            let (mut depth, mut expect) = (0, true);
            while i < b.len() {
                match b[i] {
                    b'{' => {
                        depth += 1;
                        i += 1;
                    }
                    b'}' => {
                        depth -= 1;
                        i += 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    b',' if depth == 1 => {
                        expect = true;
                        i += 1;
                    }
                    c if depth == 1 && expect && is_ident_char(c) => {
                        let (id, next) = ident_at(b, i);
                        if let Some(id) = id.filter(|id| id != "self") {
                            refs.push(Reference {
                                line: line_of(i),
                                target: id,
                            });
                        }
                        expect = false;
                        i = next;
                    }
                    _ => i += 1,
                }
            }
        } else if let (Some(id), _) = ident_at(b, i) {
            refs.push(Reference {
                line: line_of(at),
                target: id,
            });
        }
    }
    refs
}

/// Every import that breaks the table, as `file:line: from (layer) uses to (layer)`.
fn violations(files: &[SourceFile]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files {
        let (text, _) = blank_test_items(&blank_comments_and_literals(&file.text));
        let mut refs = references(&text, "crate");
        if file.in_bin {
            refs.extend(references(&text, "acidbase"));
        }
        for mut r in refs {
            if let Some(&(_, module)) = ALIASES.iter().find(|(a, _)| *a == r.target) {
                r.target = module.to_string();
            }
            if r.target == file.module {
                continue;
            }
            let at = format!("{}:{}", file.path, r.line);
            let (Some(from), Some(to)) = (layer_of(&file.module), layer_of(&r.target)) else {
                found.push(format!(
                    "{at}: `{}` uses `{}`, and one of them is not in LAYERS",
                    file.module, r.target
                ));
                continue;
            };
            let allowed = ALLOWED
                .iter()
                .any(|&(f, t, _)| f == file.module && t == r.target);
            if to >= from && !allowed {
                let how = if to == from {
                    "its own layer"
                } else {
                    "a higher layer"
                };
                found.push(format!(
                    "{at}: `{}` (layer {from}) uses `{}` (layer {to}), on {how}",
                    file.module, r.target
                ));
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// The names declared by `mod x;` / `pub mod x;` in a crate root.
fn declared_modules(root: &Path) -> BTreeSet<String> {
    let text = fs::read_to_string(root).expect("the crate root");
    let text = blank_comments_and_literals(&text);
    text.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l.strip_prefix("pub ").unwrap_or(l);
            l.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

/// The crate's sources without the crate roots and without test-only files (those
/// declared by `#[cfg(test)] mod name;`).
fn crate_sources() -> Vec<SourceFile> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bin_modules = declared_modules(&src.join("main.rs"));
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let mut test_only = BTreeSet::new();
    for path in &paths {
        let text = fs::read_to_string(path).expect("a source file");
        let (_, test_mods) = blank_test_items(&blank_comments_and_literals(&text));
        // `a/mod.rs` and `lib.rs` declare files beside them, `a/b.rs` under `a/b/`.
        let dir = match path.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => path.parent().map(Path::to_path_buf),
            _ => Some(path.with_extension("")),
        };
        if let Some(dir) = dir {
            for name in test_mods {
                test_only.insert(dir.join(format!("{name}.rs")));
                test_only.insert(dir.join(&name).join("mod.rs"));
            }
        }
    }
    let mut files = Vec::new();
    for path in paths {
        let rel = path.strip_prefix(&src).expect("under src");
        if test_only.contains(&path) || rel == Path::new("lib.rs") || rel == Path::new("main.rs") {
            continue;
        }
        let first = rel.components().next().expect("a component");
        let module = first.as_os_str().to_string_lossy();
        let module = module.strip_suffix(".rs").unwrap_or(&module).to_string();
        files.push(SourceFile {
            path: format!("src/{}", rel.display()),
            in_bin: bin_modules.contains(&module),
            module,
            text: fs::read_to_string(&path).expect("a source file"),
        });
    }
    files
}

#[test]
fn every_import_points_down_the_layers() {
    let found = violations(&crate_sources());
    assert!(
        found.is_empty(),
        "{} import(s) break the layers (tests/suite/layering.rs):\n{}",
        found.len(),
        found.join("\n")
    );
}

#[test]
fn every_module_is_placed_in_the_table() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut modules = declared_modules(&src.join("lib.rs"));
    modules.extend(declared_modules(&src.join("main.rs")));
    // A file or directory in src/ that no root declares is a module too (or dead code).
    for entry in fs::read_dir(&src).expect("src/") {
        let path = entry.expect("an entry").path();
        let name = path
            .file_stem()
            .expect("a name")
            .to_string_lossy()
            .to_string();
        let is_module = path.is_dir() || path.extension().is_some_and(|x| x == "rs");
        if is_module && name != "lib" && name != "main" {
            modules.insert(name);
        }
    }
    let unplaced: Vec<&String> = modules.iter().filter(|m| layer_of(m).is_none()).collect();
    assert!(
        unplaced.is_empty(),
        "modules missing from LAYERS: {unplaced:?}"
    );
    let stale: Vec<&str> = LAYERS
        .iter()
        .map(|&(m, _)| m)
        .filter(|m| !modules.contains(*m))
        .collect();
    assert!(
        stale.is_empty(),
        "LAYERS names modules that do not exist: {stale:?}"
    );
    let mut seen = BTreeMap::new();
    for &(m, l) in LAYERS {
        assert!(seen.insert(m, l).is_none(), "`{m}` is in LAYERS twice");
    }
    let lib = blank_comments_and_literals(&fs::read_to_string(src.join("lib.rs")).expect("lib.rs"));
    let aliases: BTreeSet<(String, String)> = lib
        .lines()
        .filter_map(|l| {
            let path = l.trim().strip_prefix("pub use ")?.strip_suffix(';')?;
            let (module, rest) = path.split_once("::")?;
            let name = rest.rsplit("::").next()?;
            Some((name.to_string(), module.to_string()))
        })
        .collect();
    let declared: BTreeSet<(String, String)> = ALIASES
        .iter()
        .map(|&(a, m)| (a.to_string(), m.to_string()))
        .collect();
    assert_eq!(
        aliases, declared,
        "ALIASES must list lib.rs's `pub use` lines"
    );
    for &(from, to, why) in ALLOWED {
        assert!(
            layer_of(from).is_some() && layer_of(to).is_some(),
            "{from} -> {to}"
        );
        assert!(
            !why.is_empty(),
            "the exception {from} -> {to} needs a reason"
        );
    }
}

fn file(module: &str, text: &str) -> SourceFile {
    SourceFile {
        path: format!("src/{module}.rs"),
        module: module.to_string(),
        in_bin: false,
        text: text.to_string(),
    }
}

#[test]
fn the_detector_catches_an_upward_import() {
    // `node` is below `report`: this must be caught, with file, line and both names.
    let found = violations(&[file("node", "//! doc\n\nuse crate::report::Report;\n")]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].starts_with("src/node.rs:3: `node`"),
        "{}",
        found[0]
    );
    assert!(found[0].contains("`report`"), "{}", found[0]);

    // In a group (one line or several) and in a path inside code.
    let found = violations(&[file(
        "network",
        "use crate::{node::Node, rng::Rng};\n\
         use crate::{\n    faults::{Clock, FaultPlan},\n};\n\
         fn f() { let _ = crate::engine::Sim::new(); }\n",
    )]);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].starts_with("src/network.rs:3:") && found[0].contains("`faults`"));
    assert!(found[1].starts_with("src/network.rs:5:") && found[1].contains("`engine`"));

    // A module on the same layer is refused too, so no cycle hides inside a layer.
    let found = violations(&[file("rng", "use crate::idmap::IdMap;\n")]);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("its own layer"), "{}", found[0]);

    // A module missing from the table is named.
    let found = violations(&[file("node", "use crate::brand_new::X;\n")]);
    assert!(found[0].contains("`brand_new`") && found[0].contains("not in LAYERS"));
}

#[test]
fn comments_strings_and_test_items_are_not_imports() {
    let text = "use crate::rng::Rng; // crate::report::Report\n\
                /// See [`crate::report::Report`].\n\
                /* crate::run:: /* nested */ crate::run:: */\n\
                const S: &str = \"see crate::report::x\";\n\
                const R: &str = r#\"crate::report::\"x\"\"#;\n\
                fn f<'a>(c: char) -> bool { c == '\"' }\n\
                #[cfg(test)]\nuse crate::report::Report;\n\
                #[cfg(test)]\nmod tests {\n    use crate::report;\n    fn g() { { crate::run::x(); } }\n}\n\
                use crate::idmap::IdMap;\n";
    assert_eq!(violations(&[file("node", text)]), Vec::<String>::new());
    let (blanked, _) = blank_test_items(&blank_comments_and_literals(text));
    let targets: Vec<String> = references(&blanked, "crate")
        .into_iter()
        .map(|r| r.target)
        .collect();
    assert_eq!(targets, ["rng", "idmap"]);
    // A path written as a string (serde's `with`, `deserialize_with`) is a reference.
    let found = violations(&[file(
        "rng",
        "#[serde(deserialize_with = \"crate::scenario::x\")]\nstruct A;\n",
    )]);
    assert_eq!(found.len(), 1, "{found:?}");
    let (_, test_mods) = blank_test_items("#[cfg(test)]\nmod tests;\n");
    assert_eq!(test_mods, ["tests"]);
}
