//! Typo hints: a key that looks like a misspelling of a known one (`webhookSecret`,
//! `webhook_secert`, `Repo`) is refused instead of being kept, since ignoring it would leave,
//! say, signatures unchecked. The known keys are read from the documented types.

use std::sync::LazyLock;

use poem_openapi::registry::Registry;
use poem_openapi::types::Type;
use serde_json::{Map, Value};

use super::{GithubConfig, GitlabConfig, SlackConfig, WebhookConfig};
use crate::base::error::{AppError, AppResult};
use crate::domain::model::IntegrationType;

/// Known keys per type, read from the documented types so the two cannot drift apart.
pub(super) fn known_keys(kind: IntegrationType) -> &'static [String] {
    fn keys_of<T: Type>() -> Vec<String> {
        let mut registry = Registry::new();
        T::register(&mut registry);
        registry
            .schemas
            .get(T::name().as_ref())
            .map(|s| s.properties.iter().map(|(k, _)| k.to_string()).collect())
            .unwrap_or_default()
    }
    static KEYS: LazyLock<[Vec<String>; 4]> = LazyLock::new(|| {
        [
            keys_of::<GithubConfig>(),
            keys_of::<GitlabConfig>(),
            keys_of::<SlackConfig>(),
            keys_of::<WebhookConfig>(),
        ]
    });
    let index = match kind {
        IntegrationType::Github => 0,
        IntegrationType::Gitlab => 1,
        IntegrationType::Slack => 2,
        IntegrationType::Webhook => 3,
    };
    &KEYS[index]
}

/// Refuses an unknown key that is a likely misspelling of a known one (`webhookSecret`,
/// `webhook_secert`, `Repo`): ignoring it would leave, say, signatures unchecked.
pub(super) fn check_for_typos(kind: IntegrationType, map: &Map<String, Value>) -> AppResult<()> {
    let known = known_keys(kind);
    for key in map.keys() {
        if known.iter().any(|k| k == key) {
            continue;
        }
        if let Some(meant) = known.iter().find(|k| looks_like(key, k)) {
            return Err(AppError::invalid(
                format!("config.{key}"),
                format!(
                    "is not a {} config key; did you mean `{meant}`?",
                    kind.as_str()
                ),
            ));
        }
    }
    Ok(())
}

fn looks_like(key: &str, known: &str) -> bool {
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let (a, b) = (squash(key), squash(known));
    if a.len() < 3 {
        return false;
    }
    if a == b {
        return true;
    }
    // One slip for short keys (`rpeo`), two for long ones (`webhook_secert`).
    let allowed = if b.len() >= 8 { 2 } else { 1 };
    b.len() >= 4 && edit_distance(&a, &b) <= allowed
}

/// Optimal string alignment distance: insertions, deletions, substitutions, transpositions.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_transpositions_once() {
        assert_eq!(edit_distance("secert", "secret"), 1);
        assert_eq!(edit_distance("repo", "repo"), 0);
        assert_eq!(edit_distance("abc", "xyz"), 3);
    }
}
