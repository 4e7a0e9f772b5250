//! The management API's bearer token: configured, or generated once into the data folder.

use std::path::{Path, PathBuf};

use anyhow::Context;
use subtle::ConstantTimeEq;

const TOKEN_FILE: &str = "api-token";

pub fn token_path(data_dir: &Path) -> PathBuf {
    data_dir.join(TOKEN_FILE)
}

/// Returns the token to require. A generated token is printed once, on the start that
/// creates it; later starts only say where it is kept.
pub fn load_or_create(data_dir: &Path, configured: Option<&str>) -> anyhow::Result<String> {
    if let Ok(token) = self::configured(configured) {
        return Ok(token);
    }
    let path = token_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => {
            crate::base::console::say(&format!(
                "using the API token stored in {} (set PROVENANT_API_TOKEN to choose your own)",
                path.display()
            ));
            return Ok(text.trim().to_string());
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let token = generate_token()?;
    crate::base::files::write_owner_only(&path, &token)?;
    crate::base::console::say(&format!(
        "generated an API token: {token}\n  sign in to the pages with it, or send it as `Authorization: Bearer <token>`; \
         it is saved in {} and will not be printed again",
        path.display()
    ));
    Ok(token)
}

/// The configured token, or the one kept in the data folder; None when there is neither
/// (nothing is generated).
pub fn load(data_dir: Option<&Path>, configured: Option<&str>) -> Option<String> {
    if let Ok(token) = self::configured(configured) {
        return Some(token);
    }
    let text = std::fs::read_to_string(token_path(data_dir?)).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// The token given by `--api-token`; an error when none was.
pub fn configured(configured: Option<&str>) -> anyhow::Result<String> {
    configured
        .map(|token| token.trim().to_string())
        .ok_or_else(|| anyhow::anyhow!("no API token was given"))
}

fn generate_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(format!("pvt_{}", hex::encode(bytes)))
}

/// The token of an `Authorization: Bearer <token>` header. The one reading of the header for
/// every route (`/api`, `/metrics`, health details): the scheme in any case (RFC 9110 §11.1),
/// then spaces, then the token.
pub fn bearer_token(headers: &poem::http::HeaderMap) -> Option<&str> {
    let value = headers
        .get(poem::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim_start_matches(' ');
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() && !token.contains(' '))
        .then_some(token)
}

/// Constant-time comparison, so response timing does not reveal how much of a guess matched.
pub fn token_matches(presented: &str, expected: &str) -> bool {
    bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use poem::http::{HeaderMap, HeaderValue};

    fn with(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_str(value).expect("value"),
        );
        h
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        for ok in ["Bearer tok", "bearer tok", "BEARER tok", "Bearer   tok"] {
            assert_eq!(bearer_token(&with(ok)), Some("tok"), "{ok}");
        }
        for bad in [
            "Basic dG9r",
            "Bearer",
            "Bearer ",
            "Bearertok",
            "Token tok",
            "Bearer a b",
        ] {
            assert_eq!(bearer_token(&with(bad)), None, "{bad}");
        }
        assert_eq!(bearer_token(&HeaderMap::new()), None);
    }
}
