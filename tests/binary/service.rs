//! Running as a service: secrets read from files or from systemd's credentials directory (not
//! the environment), and the systemd unit in `dist/` checked by systemd itself.

use std::path::Path;
use std::process::Command;

use crate::fixture::*;

const KEY: &str = "4444444444444444444444444444444444444444444444444444444444444444";

/// The management API answers the token.
fn token_works(server: &Server) {
    let (status, text) = get(
        &agent(),
        &format!("{}/api/integrations", server.address),
        Some(TOKEN),
    );
    assert_eq!(status, 200, "{text}");
}

/// Nothing secret was generated into the folder: the given ones were used.
fn nothing_generated(dir: &Path) {
    for name in ["api-token", "master-key"] {
        assert!(!dir.join(name).exists(), "{name} was generated");
    }
}

#[test]
fn the_token_and_the_master_key_are_read_from_files() {
    let dir = tempfile::tempdir().expect("dir");
    let secrets = tempfile::tempdir().expect("secrets");
    let (token, key) = (secrets.path().join("token"), secrets.path().join("key"));
    std::fs::write(&token, format!("{TOKEN}\n")).expect("token");
    std::fs::write(&key, format!("{KEY}\n")).expect("key");
    let mut cmd = command(dir.path());
    cmd.env("PROVENANT_API_TOKEN_FILE", &token)
        .env("PROVENANT_MASTER_KEY_FILE", &key);
    let server = Server::spawn(cmd);
    token_works(&server);
    assert!(server.terminate().success());
    nothing_generated(dir.path());
}

#[test]
fn systemd_credentials_are_read_from_the_credentials_directory() {
    let dir = tempfile::tempdir().expect("dir");
    let credentials = tempfile::tempdir().expect("credentials");
    std::fs::write(credentials.path().join("api-token"), TOKEN).expect("token");
    std::fs::write(credentials.path().join("master-key"), KEY).expect("key");
    let mut cmd = command(dir.path());
    cmd.env("CREDENTIALS_DIRECTORY", credentials.path());
    let server = Server::spawn(cmd);
    token_works(&server);
    assert!(server.terminate().success());
    nothing_generated(dir.path());
}

#[test]
fn a_missing_or_empty_secret_file_or_two_sources_stop_the_start_by_name() {
    let dir = tempfile::tempdir().expect("dir");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "\n").expect("empty");
    let cases: [(&str, &str, &str); 3] = [
        (
            "PROVENANT_API_TOKEN_FILE",
            "/nonexistent/token",
            "--api-token-file: cannot read /nonexistent/token",
        ),
        (
            "PROVENANT_MASTER_KEY_FILE",
            empty.to_str().expect("path"),
            "is empty",
        ),
        (
            "PROVENANT_API_TOKEN_FILE",
            empty.to_str().expect("path"),
            "--api-token and --api-token-file: give one of them",
        ),
    ];
    for (n, (var, value, says)) in cases.into_iter().enumerate() {
        let mut cmd = command(&dir.path().join(format!("d{n}")));
        cmd.env(var, value);
        if n == 2 {
            cmd.env("PROVENANT_API_TOKEN", TOKEN);
        }
        let out = cmd.output().expect("run");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}: {stderr}");
        assert!(stderr.contains(says), "{var}: {stderr}");
    }
}

/// `systemd-analyze`, or None (skipped) where systemd is not installed; CI has it.
fn systemd_analyze() -> Option<&'static str> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("PROVENANT_REQUIRE_SYSTEMD").is_none(),
            "PROVENANT_REQUIRE_SYSTEMD is set, but systemd-analyze is missing"
        );
        eprintln!("skipped: systemd-analyze is not installed");
    }
    found.then_some("systemd-analyze")
}

#[test]
fn the_systemd_unit_verifies_and_is_rated_ok_or_better() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dist/provenant.service"
    ))
    .expect("dist/provenant.service");
    assert!(
        unit.contains("ExecStart=/usr/local/bin/provenant "),
        "{unit}"
    );
    for needed in [
        "DynamicUser=yes",
        "StateDirectory=provenant",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=",
        "CapabilityBoundingSet=\n",
        "LoadCredential=master-key:",
        "LoadCredential=api-token:",
    ] {
        assert!(unit.contains(needed), "the unit lacks {needed:?}");
    }
    // verify checks that ExecStart's program exists: point it at the binary under test.
    let dir = tempfile::tempdir().expect("dir");
    let copy = dir.path().join("provenant.service");
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/provenant", env!("CARGO_BIN_EXE_provenant")),
    )
    .expect("copy");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze verify");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("provenant.service:"),
        "a complaint about the unit: {said}"
    );

    let out = Command::new(analyze)
        .args(["security", "--offline=true", "--no-pager"])
        .arg(&copy)
        .output()
        .expect("systemd-analyze security");
    let report = String::from_utf8_lossy(&out.stdout);
    let overall = report
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no overall line: {report}"));
    assert!(
        overall.contains(" OK") || overall.contains(" SAFE"),
        "{overall}"
    );
    eprintln!("{}", overall.trim());
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = Command::new(env!("CARGO_BIN_EXE_provenant"))
        .arg("--version")
        .output()
        .expect("provenant --version");
    assert!(out.status.success());
    let printed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        printed.starts_with(concat!("provenant ", env!("CARGO_PKG_VERSION"), " (")),
        "{printed}"
    );
    // The tests build from this checkout: the commit is its HEAD.
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) => assert!(
            printed.ends_with(&format!("({head})")),
            "{printed} vs {head}"
        ),
        None => assert!(printed.ends_with("(unknown)"), "{printed}"),
    }
}
