//! Records the git commit the binary is built from, for `provenant --version`: "unknown" when
//! built outside a git checkout (from a source archive, say).

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // Not `PROVENANT_…`: `cargo run` hands a build script's values to the program it runs,
    // and the server would take it for a setting of its own (and warn of a typo).
    println!("cargo:rustc-env=BUILD_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit, a checkout or a fetch moves one of these. Only files that exist are
    // named: cargo reruns the script on every build for a path that does not (a repository
    // whose refs were never packed has no packed-refs), and so rebuilds the whole crate.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for path in ["HEAD", "refs", "packed-refs"] {
            let path = std::path::Path::new(&dir).join(path);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }
}
