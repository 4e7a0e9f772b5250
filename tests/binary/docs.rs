//! The documentation stays true: every flag and environment variable the server reads is on
//! the configuration page (and the page names none it does not read), and every relative link
//! in the README and `docs/` leads somewhere that exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The flags (`--name`) and variables (`PROVENANT_*`) the command line reads, in every
/// subcommand.
fn read_by_the_server() -> (BTreeSet<String>, BTreeSet<String>) {
    fn walk(cmd: &clap::Command, flags: &mut BTreeSet<String>, vars: &mut BTreeSet<String>) {
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                flags.insert(format!("--{long}"));
            }
            if let Some(var) = arg.get_env().and_then(|v| v.to_str()) {
                vars.insert(var.to_string());
            }
        }
        for sub in cmd.get_subcommands() {
            walk(sub, flags, vars);
        }
    }
    let (mut flags, mut vars) = (BTreeSet::new(), BTreeSet::new());
    walk(
        &<provenant::app::config::Config as clap::CommandFactory>::command(),
        &mut flags,
        &mut vars,
    );
    (flags, vars)
}

/// Every match of a `--flag` or a `PROVENANT_` variable in `text`.
fn named_in(text: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let flag = regex::Regex::new(r"(^|[^A-Za-z0-9-])(--[a-z][a-z0-9-]*[a-z0-9])").expect("re");
    let var = regex::Regex::new(r"\bPROVENANT_[A-Z0-9_]*[A-Z0-9]\b").expect("re");
    (
        flag.captures_iter(text).map(|c| c[2].to_string()).collect(),
        var.find_iter(text)
            .map(|m| m.as_str().to_string())
            .collect(),
    )
}

#[test]
fn the_configuration_page_names_every_setting_the_server_reads_and_no_other() {
    let page = std::fs::read_to_string(root().join("docs/configuration.md")).expect("page");
    let (flags, vars) = read_by_the_server();
    let (page_flags, page_vars) = named_in(&page);
    let missing: Vec<_> = flags
        .iter()
        .chain(&vars)
        .filter(|n| !page_flags.contains(*n) && !page_vars.contains(*n))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/configuration.md lacks {missing:?}"
    );
    // `--help` and `--version` are clap's own.
    let unknown: Vec<_> = page_flags
        .iter()
        .filter(|f| !flags.contains(*f) && !["--help", "--version"].contains(&f.as_str()))
        .chain(page_vars.iter().filter(|v| !vars.contains(*v)))
        .collect();
    assert!(
        unknown.is_empty(),
        "docs/configuration.md names settings the server does not read: {unknown:?}"
    );
}

/// `README.md` and every Markdown file under `docs/`.
fn pages() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("docs").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let mut out = vec![root().join("README.md")];
    walk(&root().join("docs"), &mut out);
    out
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors_of(text: &str) -> BTreeSet<String> {
    let mut in_code = false;
    text.lines()
        .filter(|line| {
            if line.starts_with("```") {
                in_code = !in_code;
            }
            !in_code && line.starts_with('#')
        })
        .map(|line| anchor(line.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").expect("re");
    let mut broken = Vec::new();
    let pages = pages();
    assert!(pages.len() > 10, "{pages:?}");
    for page in &pages {
        let text = std::fs::read_to_string(page).expect("page");
        for target in link.captures_iter(&text).map(|c| c[1].to_string()) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((file, fragment)) => (file, Some(fragment)),
                None => (target.as_str(), None),
            };
            let resolved = if file.is_empty() {
                page.clone()
            } else {
                page.parent().expect("folder").join(file)
            };
            if !resolved.exists() {
                broken.push(format!("{}: {target}", page.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                let text = std::fs::read_to_string(&resolved).unwrap_or_default();
                if !anchors_of(&text).contains(fragment) {
                    broken.push(format!("{}: {target} (no such heading)", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "links that lead nowhere: {broken:#?}");
}

#[test]
fn the_readme_fits_on_two_screens() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README");
    let lines = readme.lines().count();
    assert!(
        lines <= 150,
        "README.md has {lines} lines: move reference into docs/"
    );
    assert!(readme.contains("cargo run --release") && readme.contains("cargo test"));
}
