//! Headless Chromium over WebDriver (Debian's `chromium` + `chromium-driver`), driven with
//! fantoccini. Without a chromedriver the browser tests skip with a message, unless
//! `PROVENANT_REQUIRE_BROWSER=1` (set by `.ci/run`) makes that a failure.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

pub const REQUIRE_VAR: &str = "PROVENANT_REQUIRE_BROWSER";

pub struct Browser {
    pub client: Client,
    driver: Child,
}

fn find_chromedriver() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PROVENANT_CHROMEDRIVER") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromedriver"))
        .find(|candidate| candidate.is_file())
}

fn chromium_binary() -> Option<&'static str> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}

/// Whether browser tests run here (a chromedriver is installed).
pub fn available() -> bool {
    find_chromedriver().is_some()
}

impl Browser {
    /// A fresh headless browser, or None (test skipped) when none is installed and none is
    /// required.
    pub async fn start(test: &str) -> Option<Browser> {
        let Some(driver_path) = find_chromedriver() else {
            assert!(
                std::env::var_os(REQUIRE_VAR).is_none(),
                "{REQUIRE_VAR} is set but no chromedriver was found: apt-get install chromium chromium-driver"
            );
            eprintln!(
                "skipping browser test {test}: no chromedriver on PATH. To run it: apt-get install chromium chromium-driver \
                 (set {REQUIRE_VAR}=1 to make a missing browser fail instead of skip)"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver_path.display()));
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut options = json!({
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--no-first-run", "--window-size=1280,900"
            ]
        });
        if let Some(binary) = chromium_binary() {
            options["binary"] = json!(binary);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("WebDriver session");
        Some(Browser { client, driver })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.client.find(Locator::Css(css)).await {
                Ok(found) => return found,
                // Not there yet, or asked while the page was navigating (chromedriver then
                // answers "aborted by navigation", as after signing in on a loaded machine).
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("no element {css}: {e}"),
            }
        }
    }

    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn count(&self, css: &str) -> usize {
        self.client
            .find_all(Locator::Css(css))
            .await
            .map(|v| v.len())
            .unwrap_or(0)
    }

    /// Polls `script` (a function body returning a value) until it returns true.
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let v = self.client.execute(script, vec![]).await.expect("script");
            if v == json!(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_string()
    }

    pub async fn text_of(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    /// Saves `target/ui-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ui-screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    }

    /// Signs in through the form and waits for the integrations page.
    pub async fn sign_in(&self, base: &str, token: &str) {
        self.goto(&format!("{base}/signin")).await;
        let input = self.wait_for("#token").await;
        input.send_keys(token).await.expect("type token");
        self.find("#signin-form button[type=submit]")
            .await
            .click()
            .await
            .expect("submit");
        self.wait_for("#integrations").await;
    }

    /// axe-core's violations on the page as it stands (WCAG 2 A and AA rules): each as
    /// `rule: the first offending element`. axe-core comes from `PROVENANT_AXE_JS` (a path to
    /// `axe.min.js`, which `.ci/run` fetches from npm), else `target/axe-core/axe.min.js`;
    /// without it the check is skipped with a message, unless browsers are required.
    pub async fn axe_violations(&self) -> Vec<String> {
        let path = std::env::var_os("PROVENANT_AXE_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/axe-core/axe.min.js")
            });
        let Ok(source) = std::fs::read_to_string(&path) else {
            assert!(
                std::env::var_os(REQUIRE_VAR).is_none(),
                "{REQUIRE_VAR} is set but axe-core is not at {}: set PROVENANT_AXE_JS (npm pack axe-core)",
                path.display()
            );
            eprintln!("skipping the axe-core check: no {}", path.display());
            return vec![];
        };
        // Loaded by WebDriver, not by the page: the page's policy allows no script but its own.
        self.client
            .execute(&format!("{source}\n;return true;"), vec![])
            .await
            .expect("loading axe-core");
        let found = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})
                   .then((r) => done(r.violations.map((v) => `${v.id}: ${v.nodes[0]?.html ?? ''}`)))
                   .catch((e) => done([`axe failed: ${e}`]));",
                vec![],
            )
            .await
            .expect("axe.run");
        serde_json::from_value(found).expect("violations")
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
    }
}

/// Runs an async browser test on its own runtime.
pub fn run<F: std::future::Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f);
}

/// Like [`run`], for a browser test that hands back what it saw (None: no browser here).
pub fn run_returning<T, F: std::future::Future<Output = Option<T>>>(f: F) -> Option<T> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}
