//! Which integration receives at an id, kept in memory: the receiver answers every delivery
//! without a database read for the integration and its signing secret.
//!
//! Every API write (integrations, secrets) empties the directory after it commits. A lookup
//! that read the database before such a write does not put its stale answer back: entries
//! are only added under the generation they were read in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::domain::model::IntegrationType;

/// What the receiver needs to know about an active integration.
pub struct Receiving {
    pub id: String,
    pub kind: IntegrationType,
    /// The signing secret or token, resolved from `${secret:NAME}` when it is a reference.
    pub secret: Option<String>,
    /// The secret before the last rotation and until when (Unix ms) it is still accepted.
    pub previous: Option<(String, i64)>,
    /// When its last delivery arrived (Unix ms; 0: none known): a long silence before a
    /// delivery may hide deliveries that never reached here.
    pub last_delivery_at: std::sync::atomic::AtomicI64,
}

// Written out so that the secret can never reach a log line through `{:?}`.
impl std::fmt::Debug for Receiving {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiving")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("secret", &self.secret.as_ref().map(|_| "[redacted]"))
            .field(
                "previous",
                &self
                    .previous
                    .as_ref()
                    .map(|(_, until)| ("[redacted]", until)),
            )
            .finish()
    }
}

/// More than any real installation has; past it, the directory starts over rather than grow.
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct Directory {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    generation: u64,
    entries: HashMap<String, Arc<Receiving>>,
}

impl Directory {
    /// The entry for `id` and, when there is none, the generation to add it under.
    pub fn get(&self, id: &str) -> Result<Arc<Receiving>, u64> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.entries.get(id).cloned().ok_or(inner.generation)
    }

    /// Adds an active integration read from the database, unless something was written since
    /// `generation` was handed out.
    pub fn add(&self, generation: u64, entry: Arc<Receiving>) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if inner.generation != generation {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES {
            inner.entries.clear();
        }
        inner.entries.insert(entry.id.clone(), entry);
    }

    /// Forgets everything: an integration or a secret changed.
    pub fn invalidate(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        inner.generation += 1;
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str) -> Arc<Receiving> {
        Arc::new(Receiving {
            id: id.into(),
            kind: IntegrationType::Github,
            secret: Some("hunter2".into()),
            previous: Some(("hunter1".into(), 1)),
            last_delivery_at: Default::default(),
        })
    }

    #[test]
    fn a_lookup_older_than_a_write_is_not_kept() {
        let d = Directory::default();
        let generation = d.get("a").expect_err("empty");
        d.invalidate(); // an API write committed while "a" was being read
        d.add(generation, entry("a"));
        assert!(d.get("a").is_err(), "the stale read was kept");
        let generation = d.get("a").expect_err("empty");
        d.add(generation, entry("a"));
        let kept = d.get("a").expect("kept");
        assert_eq!(kept.kind, IntegrationType::Github);
        assert!(
            !format!("{kept:?}").contains("hunter2"),
            "the secret is not printed"
        );
        d.invalidate();
        assert!(d.get("a").is_err());
    }
}
