//! Decision traces: what happened to an event, in order, in words a person can check. The
//! receiver notes how it verified and read the delivery; processing notes which rules matched
//! or did not and why, what it created or found already recorded, and which outbox rows it
//! queued (whose fate the event's detail reads from the outbox when it is shown).

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub text: String,
    /// The outbox row this step queued, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<String>,
}

/// The steps of one processing attempt, noted as processing goes.
#[derive(Debug, Default)]
pub struct Trace(RefCell<Vec<Step>>);

impl Trace {
    pub fn note(&self, text: impl Into<String>) {
        self.0.borrow_mut().push(Step {
            text: text.into(),
            row: None,
        });
    }

    /// Notes that an outbox row was queued.
    pub fn queued(&self, text: impl Into<String>, row: &str) {
        self.0.borrow_mut().push(Step {
            text: text.into(),
            row: Some(row.to_string()),
        });
    }

    pub fn take(&self) -> Vec<Step> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

/// `value` in backticks, as the trace quotes names and values taken from deliveries.
pub fn quoted(value: &str) -> String {
    format!("`{value}`")
}
