//! Imports run one way: every file under `src/` belongs to a layer, and a file may name (with
//! `crate::…` or `super::…`, in a `use` or inline) only files of its own layer or a lower
//! one, and files of one layer may not import each other in a circle.
//!
//! The layers, lowest first: `base` (clock, retries, files, console lines, crash points,
//! metric counters, the error type), `domain` (the product's words and rules, pure), `db`
//! (storage), `remote` and `tls` (talking outward), `pipeline` and `doctor` (deciding and
//! delivering), `http` (answering requests), `app` (wiring, the command line, `main.rs`).
//! Each layer is a folder of `src/` ([`FOLDERS`]); only `main.rs` and `lib.rs` sit at its root.
//! [`ALLOWED`] lists exceptions: it started with those found when this test was written, may
//! only shrink (an entry that no longer happens fails the test until it is removed), and is
//! empty.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const LAYERS: &[&str] = &["base", "domain", "db", "remote", "pipeline", "http", "app"];

/// The folders that are layers, and the files at the root of `src/` (the wiring's).
const FOLDERS: &[(&str, usize)] = &[
    ("base", 0),
    ("domain", 1),
    ("db", 2),
    ("remote", 3),
    ("tls", 3),
    ("pipeline", 4),
    ("doctor", 4),
    ("http", 5),
    ("app", 6),
    ("bin", 6),
    ("main.rs", 6),
    ("lib.rs", 6),
];

/// Exceptions: `up: importer -> imported` (a file naming a higher layer's) and `circle: a b …`
/// (files of one layer importing each other round). It started with the 22 upward imports and
/// 3 circles of its day and is empty now: keep it so.
const ALLOWED: &[&str] = &[];

/// The layer of `path` (relative to `src/`, with `/`).
fn layer_of(path: &str) -> Option<usize> {
    let first = path.split('/').next().unwrap_or(path);
    FOLDERS.iter().find(|(f, _)| *f == first).map(|(_, l)| *l)
}

/// The module path of a file: `api/guard.rs` → `[api, guard]`, `api/mod.rs` → `[api]`.
fn module_of(path: &str) -> Vec<String> {
    let trimmed = path.trim_end_matches(".rs");
    let mut parts: Vec<String> = trimmed.split('/').map(str::to_string).collect();
    if parts
        .last()
        .is_some_and(|p| p == "mod" || p == "lib" || p == "main")
    {
        parts.pop();
    }
    parts
}

/// The file a module path names: the longest prefix that is a file of the tree.
fn file_of(files: &BTreeMap<String, String>, segments: &[String]) -> Option<String> {
    (1..=segments.len()).rev().find_map(|n| {
        let base = segments[..n].join("/");
        [format!("{base}.rs"), format!("{base}/mod.rs")]
            .into_iter()
            .find(|candidate| files.contains_key(candidate))
    })
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The paths after `prefix` (`crate::`, `super::`) on a line, each as its segments; a group
/// `crate::{a::b, c}` gives one path per item.
fn paths_after(line: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().last();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| is_ident(c) || c == '$') {
            continue;
        }
        out.extend(read_tree(rest));
    }
    out
}

/// `a::b::C` → `[[a, b, C]]`; `{a::x, b}` → `[[a, x], [b]]`; `a::{b, c}` → `[[a, b], [a, c]]`.
fn read_tree(text: &str) -> Vec<Vec<String>> {
    let mut segments = Vec::new();
    let mut rest = text;
    loop {
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|(_, c)| {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        _ => {}
                    }
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let inner = &group[..end];
            let mut items = Vec::new();
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(&inner[start..i]);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            items.push(&inner[start..]);
            let mut out = Vec::new();
            for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
                for tail in read_tree(item) {
                    let mut path = segments.clone();
                    path.extend(tail);
                    out.push(path);
                }
            }
            return out;
        }
        let ident: String = rest.chars().take_while(|c| is_ident(*c)).collect();
        if ident.is_empty() {
            break;
        }
        rest = &rest[ident.len()..];
        segments.push(ident);
        match rest.strip_prefix("::") {
            Some(next) => rest = next,
            None => break,
        }
    }
    if segments.is_empty() {
        vec![]
    } else {
        vec![segments]
    }
}

/// One file naming another: where, and which.
#[derive(Debug, Clone)]
struct Import {
    from: String,
    line: usize,
    to: String,
}

/// The paths `lib.rs` keeps for modules that moved into a layer's folder
/// (`pub use base::{clock, retry};`): `clock` → `[base, clock]`.
fn aliases(files: &BTreeMap<String, String>) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    let lib = files.get("lib.rs").map(String::as_str).unwrap_or_default();
    for line in lib.lines().filter(|l| l.starts_with("pub use ")) {
        for path in read_tree(line.trim_start_matches("pub use ").trim_end_matches(';')) {
            if let Some(last) = path.last()
                && file_of(files, &path).is_some_and(|f| f != "lib.rs")
            {
                out.insert(last.clone(), path.clone());
            }
        }
    }
    out
}

/// Every import between files of the tree (`path` relative to `src/` → source).
fn imports(files: &BTreeMap<String, String>) -> Vec<Import> {
    let aliases = aliases(files);
    let mut out = Vec::new();
    for (path, source) in files {
        let module = module_of(path);
        let mut in_block_comment = false;
        for (n, raw) in source.lines().enumerate() {
            let line = raw.trim();
            if in_block_comment {
                in_block_comment = !line.contains("*/");
                continue;
            }
            if line.starts_with("/*") {
                in_block_comment = !line.contains("*/");
                continue;
            }
            if line.starts_with("//") {
                continue;
            }
            let code = line.split(" //").next().unwrap_or(line);
            let mut targets: Vec<Vec<String>> = paths_after(code, "crate::")
                .into_iter()
                .map(
                    |path| match path.first().and_then(|first| aliases.get(first)) {
                        Some(real) => real.iter().chain(&path[1..]).cloned().collect(),
                        None => path,
                    },
                )
                .collect();
            // `super::` from `api/guard.rs` is `api`; from `api/mod.rs`, the crate.
            let parent: Vec<String> = if path.ends_with("/mod.rs") || !path.contains('/') {
                module
                    .iter()
                    .take(module.len().saturating_sub(1))
                    .cloned()
                    .collect()
            } else {
                module[..module.len() - 1].to_vec()
            };
            for tail in paths_after(code, "super::") {
                let mut full = parent.clone();
                full.extend(tail);
                targets.push(full);
            }
            for target in targets {
                if let Some(to) = file_of(files, &target)
                    && &to != path
                {
                    out.push(Import {
                        from: path.clone(),
                        line: n + 1,
                        to,
                    });
                }
            }
        }
    }
    out
}

/// The circles among `edges` (strongly connected groups of more than one file), each sorted.
fn circles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    // Tarjan's algorithm, iteratively deep enough for a source tree.
    struct State<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit(s: &mut State<'_>, v: &str) {
        s.index.insert(v.to_string(), s.next);
        s.low.insert(v.to_string(), s.next);
        s.next += 1;
        s.stack.push(v.to_string());
        s.on_stack.insert(v.to_string());
        let targets: Vec<String> = s.edges.get(v).into_iter().flatten().cloned().collect();
        for w in targets {
            if !s.index.contains_key(&w) {
                visit(s, &w);
                let low = s.low[&w].min(s.low[v]);
                s.low.insert(v.to_string(), low);
            } else if s.on_stack.contains(&w) {
                let low = s.index[&w].min(s.low[v]);
                s.low.insert(v.to_string(), low);
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(&w);
                let done = w == v;
                group.push(w);
                if done {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut s = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    let nodes: Vec<String> = edges.keys().cloned().collect();
    for v in nodes {
        if !s.index.contains_key(&v) {
            visit(&mut s, &v);
        }
    }
    s.out.sort();
    s.out
}

/// What breaks the rule in `files`: each finding with the line it is written at (for the
/// message) and its key (what `ALLOWED` lists).
fn findings(files: &BTreeMap<String, String>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let all = imports(files);
    for path in files.keys() {
        if layer_of(path).is_none() {
            out.push((
                format!("src/{path}: in no layer (move it into the folder of its layer)"),
                format!("unplaced: src/{path}"),
            ));
        }
    }
    let mut same_layer: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen_up = BTreeSet::new();
    for import in &all {
        let (Some(from), Some(to)) = (layer_of(&import.from), layer_of(&import.to)) else {
            continue;
        };
        if to > from {
            let key = format!("up: src/{} -> src/{}", import.from, import.to);
            if seen_up.insert(key.clone()) {
                out.push((
                    format!(
                        "src/{}:{} names src/{} ({}), above its own layer ({})",
                        import.from, import.line, import.to, LAYERS[to], LAYERS[from]
                    ),
                    key,
                ));
            }
        } else if to == from {
            same_layer
                .entry(import.from.clone())
                .or_default()
                .insert(import.to.clone());
        }
    }
    for circle in circles(&same_layer) {
        let names: Vec<String> = circle.iter().map(|f| format!("src/{f}")).collect();
        let key = format!("circle: {}", names.join(" "));
        out.push((
            format!("a circle of imports in one layer: {}", names.join(" → ")),
            key,
        ));
    }
    out
}

/// Every `.rs` under `dir`, relative to it, with its text.
fn read_tree_of(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).expect("src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let relative = path
                    .strip_prefix(root)
                    .expect("under src")
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(relative, std::fs::read_to_string(&path).expect("read"));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[test]
fn imports_run_one_way_and_in_no_circle() {
    let files = read_tree_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(files.len() > 100, "{} files", files.len());
    let found = findings(&files);
    let new: Vec<&String> = found
        .iter()
        .filter(|(_, key)| !ALLOWED.contains(&key.as_str()))
        .map(|(message, _)| message)
        .collect();
    let keys: BTreeSet<&str> = found.iter().map(|(_, k)| k.as_str()).collect();
    let gone: Vec<&&str> = ALLOWED.iter().filter(|a| !keys.contains(**a)).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "imports must run down the layers ({}).\nNew: {new:#?}\nFixed, so remove them from ALLOWED: {gone:#?}\nAll found now (for ALLOWED): {:#?}",
        LAYERS.join(" < "),
        found.iter().map(|(_, k)| k).collect::<Vec<_>>()
    );
}

#[test]
fn the_checker_finds_an_upward_import_and_a_circle_in_a_made_up_tree() {
    let tree: BTreeMap<String, String> = [
        ("base/clock.rs", "use crate::domain::model::Id;\n"),
        ("domain/mod.rs", "pub mod model;\npub mod rules;\n"),
        (
            "domain/model.rs",
            "use super::rules::Rule;\n// crate::app::run is only a comment\n",
        ),
        (
            "domain/rules.rs",
            "pub fn f() { crate::domain::model::make(); }\n",
        ),
        (
            "db/events.rs",
            "use crate::{base::clock, domain::{model, rules::Rule}};\n",
        ),
        ("app/mod.rs", "use crate::db::events;\n"),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_string(), s.to_string()))
    .collect();
    let found = findings(&tree);
    let keys: Vec<&str> = found.iter().map(|(_, k)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "up: src/base/clock.rs -> src/domain/model.rs",
            "circle: src/domain/model.rs src/domain/rules.rs",
        ],
        "{found:#?}"
    );
    assert!(found[0].0.contains("src/base/clock.rs:1"), "{}", found[0].0);
    // Downward imports, grouped ones included, are fine: without the two faults, nothing.
    // A path `lib.rs` keeps for a moved module is followed to the file it names.
    let mut aliased = tree.clone();
    aliased.insert(
        "lib.rs".into(),
        "pub mod base;\npub use domain::{rules};\n".into(),
    );
    aliased.insert("base/clock.rs".into(), "use crate::rules::Rule;\n".into());
    assert!(
        findings(&aliased)
            .iter()
            .any(|(_, k)| k == "up: src/base/clock.rs -> src/domain/rules.rs"),
        "{:#?}",
        findings(&aliased)
    );
    // A file loose at the root of `src/` (or in a folder that is no layer) is in no layer.
    let mut loose = tree.clone();
    loose.insert("state.rs".into(), "pub struct State;\n".into());
    assert!(
        findings(&loose)
            .iter()
            .any(|(_, k)| k == "unplaced: src/state.rs"),
        "{:#?}",
        findings(&loose)
    );
    let mut fixed = tree.clone();
    fixed.insert("base/clock.rs".into(), "pub struct Clock;\n".into());
    fixed.insert("domain/rules.rs".into(), "pub struct Rule;\n".into());
    assert!(findings(&fixed).is_empty(), "{:#?}", findings(&fixed));
}
