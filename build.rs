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
    println!("cargo:rustc-env=PROVENANT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=build.rs");
    // A new commit, a checkout or a fetch moves one of these.
    if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
        for path in ["HEAD", "refs", "packed-refs"] {
            println!("cargo:rerun-if-changed={dir}/{path}");
        }
    }
}
