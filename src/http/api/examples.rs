//! Examples in the spec, which the server accepts as they stand (tests/api/examples.rs sends
//! every operation's), so the explorer's "Try it out" starts from something valid.
//!
//! Objects carry theirs with poem-openapi's `example`; this module holds what the derives
//! cannot say: examples of unions, written as JSON, and of path and query parameters.

use std::borrow::Cow;
use std::marker::PhantomData;

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde_json::Value;

/// An example for a type whose derive takes none (a `Union`).
pub trait JsonExample {
    fn json_example() -> Value;
}

/// `U`'s schema with its [`JsonExample`]: the type a [`super::body::JsonBody`] documents.
pub struct Documented<U>(PhantomData<U>);

impl<U: Type + JsonExample> Type for Documented<U> {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        U::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        U::schema_ref()
    }

    fn register(registry: &mut Registry) {
        U::register(registry);
        if let Some(schema) = registry.schemas.get_mut(U::name().as_ref()) {
            schema.example = Some(U::json_example());
        }
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

/// An integration's id, as in `/api/integrations/{id}`.
pub fn integration_id() -> String {
    "6f1c2a9e-3b7d-4e58-9a10-2c4d8e6f7a3b".into()
}

/// An actor of the audit log: a token's name.
pub fn actor() -> Option<String> {
    Some("eval-platform".into())
}

/// An API token's id (not its value).
pub fn token_id() -> String {
    "0b8e4d2c-7a1f-4c36-b5e9-3d2a6f8c1e47".into()
}

/// A single sign-on session's id.
pub fn session_id() -> String {
    "5d1c7e3a-9b24-4f6e-8a0d-2c4b6e8f1a3d".into()
}

/// An event's id.
pub fn event_id() -> String {
    "0d9b3c4e-5f6a-4b7c-8d9e-1f2a3b4c5d6e".into()
}

/// A replay's id.
pub fn replay_id() -> String {
    "a3e5c7d9-1b2f-4a6c-8e0d-9f7b5a3c1e2d".into()
}

/// An outbox row's id.
pub fn outbox_row_id() -> String {
    "4c8e2a6f-9d1b-4f3e-a5c7-0b2d4f6a8c1e".into()
}

/// An eval run's id.
pub fn eval_run_id() -> String {
    "7b9d1f3a-5c2e-4a8b-9d0f-6e4c2a8b1d3f".into()
}

/// A deployment's id.
pub fn deployment_id() -> String {
    "2e4a6c8b-0d1f-4b3a-8c5e-7f9a1b3d5c7e".into()
}

/// A page size.
pub fn page_size() -> Option<u32> {
    Some(20)
}

/// An event type, as the sender names it.
pub fn event_type() -> Option<String> {
    Some("push".into())
}

/// A repository, `owner/name` on GitHub or `group/project` on GitLab.
pub fn repo() -> Option<String> {
    Some("octo-org/hello-world".into())
}

/// A stats window's start: a day before [`stats_to`].
pub fn stats_from() -> Option<crate::domain::checked::Timestamp> {
    crate::domain::checked::Timestamp::parse("2026-11-27T09:00:00Z")
}

/// A stats window's end.
pub fn stats_to() -> Option<crate::domain::checked::Timestamp> {
    crate::domain::checked::Timestamp::parse("2026-11-28T09:00:00Z")
}

/// An outbox destination's key, as `listOutboxDestinations` names it.
pub fn destination_key() -> String {
    format!("slack:{}", integration_id())
}

/// An outbox destination: a Slack integration's queue.
pub fn destination() -> Option<String> {
    Some(format!("slack:{}", integration_id()))
}
