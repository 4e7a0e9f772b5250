//! The pages as files: content types, headers, size budget. No browser needed.

use crate::helpers::*;

const PAGES: &[(&str, &str)] = &[
    ("/", "/assets/pages/integrations.js"),
    ("/signin", "/assets/pages/signin.js"),
    ("/integrations/new", "/assets/pages/new.js"),
    (
        "/integrations/1b4e28ba-2fa1-41d2-883f-0e1bdd2f0c5e",
        "/assets/pages/integration.js",
    ),
    ("/secrets", "/assets/pages/secrets.js"),
    ("/settings", "/assets/pages/settings.js"),
    ("/eval-runs", "/assets/pages/records.js"),
    ("/deployments", "/assets/pages/records.js"),
    ("/notifications", "/assets/pages/records.js"),
    ("/outbox", "/assets/pages/records.js"),
];

#[test]
fn pages_are_served_with_types_csp_and_cache_headers() {
    let app = TestApp::spawn();
    for (page, script) in PAGES {
        let html = app.request("GET", page, None, &[], None);
        assert_eq!(html.status, 200, "{page}");
        assert_eq!(html.header("content-type"), Some("text/html"), "{page}");
        let csp = html.header("content-security-policy").expect("CSP");
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(html.header("cache-control"), Some("no-cache"));
        assert!(
            html.text.contains(&format!("src=\"{script}\"")),
            "{page} loads {script}"
        );
        assert!(
            !html.text.contains("<script>"),
            "no inline script in {page}"
        );
    }
    let js = app.request("GET", "/assets/app.js", None, &[], None);
    assert_eq!(js.header("content-type"), Some("text/javascript"));
    let css = app.request("GET", "/assets/style.css", None, &[], None);
    assert_eq!(css.header("content-type"), Some("text/css"));
    let svg = app.request("GET", "/assets/icons/github.svg", None, &[], None);
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert_eq!(
        app.request("GET", "/assets/nothing.js", None, &[], None)
            .status,
        404
    );
}

#[test]
fn every_page_stays_under_100_kb_of_html_css_and_javascript() {
    let app = TestApp::spawn();
    for (page, script) in PAGES {
        let size: usize = [*page, "/assets/style.css", "/assets/app.js", script]
            .iter()
            .map(|p| app.request("GET", p, None, &[], None).text.len())
            .sum();
        assert!(size < 100 * 1024, "{page} weighs {size} bytes");
    }
}

#[test]
fn pages_reference_no_other_origin() {
    let app = TestApp::spawn();
    for path in [
        "/",
        "/assets/app.js",
        "/assets/style.css",
        "/assets/pages/integration.js",
        "/assets/pages/new.js",
    ] {
        let text = app.request("GET", path, None, &[], None).text;
        for needle in ["http://", "https://"] {
            for (i, _) in text.match_indices(needle) {
                let context = &text[i..(i + 40).min(text.len())];
                // Example and documentation URLs in text are fine; loaded resources are not.
                assert!(
                    context.contains("hooks.slack.com")
                        || context.contains("github.com")
                        || context.contains("gitlab"),
                    "{path} references {context}"
                );
            }
        }
    }
}
