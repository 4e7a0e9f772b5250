//! How the spec shows an integration read back: a `oneOf` on `type`, with a `discriminator`,
//! one schema per type whose `config` is that type's config, as creation already is. A client
//! that reads a WEBHOOK integration gets a `WebhookConfig`, and in TypeScript
//! `type === "WEBHOOK"` narrows `config`.
//!
//! The answer itself is written from [`IntegrationOut`] (the masked config as stored, with
//! the user's own keys); these types only describe it.

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ToJSON, Type};
use poem_openapi::{Object, Union};
use serde_json::Value;

use super::integrations::{IntegrationFields, IntegrationOut};
use crate::domain::integration_config::{GithubConfig, GitlabConfig, SlackConfig, WebhookConfig};

/// A GITHUB integration, with sensitive config values masked (`***`).
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct GithubIntegrationOut {
    #[oai(flatten)]
    pub fields: IntegrationFields,
    pub config: GithubConfig,
}

/// A GITLAB integration, with sensitive config values masked (`***`).
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct GitlabIntegrationOut {
    #[oai(flatten)]
    pub fields: IntegrationFields,
    pub config: GitlabConfig,
}

/// A SLACK integration, with sensitive config values masked (`***`; webhook URLs as
/// `https://host/first-segment/…/***`).
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SlackIntegrationOut {
    #[oai(flatten)]
    pub fields: IntegrationFields,
    pub config: SlackConfig,
}

/// A WEBHOOK integration, with sensitive config values masked (`***`).
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct WebhookIntegrationOut {
    #[oai(flatten)]
    pub fields: IntegrationFields,
    pub config: WebhookConfig,
}

/// An integration: `type` says which config it has.
#[derive(Union)]
#[oai(rename = "IntegrationOut", discriminator_name = "type", one_of)]
pub enum IntegrationOutDoc {
    #[oai(mapping = "GITHUB")]
    Github(GithubIntegrationOut),
    #[oai(mapping = "GITLAB")]
    Gitlab(GitlabIntegrationOut),
    #[oai(mapping = "SLACK")]
    Slack(SlackIntegrationOut),
    #[oai(mapping = "WEBHOOK")]
    Webhook(WebhookIntegrationOut),
}

impl Type for IntegrationOut {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        IntegrationOutDoc::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        IntegrationOutDoc::schema_ref()
    }

    fn register(registry: &mut Registry) {
        IntegrationOutDoc::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ToJSON for IntegrationOut {
    fn to_json(&self) -> Option<Value> {
        let mut out = self.fields.to_json()?;
        let object = out.as_object_mut()?;
        object.insert("type".into(), Value::from(self.kind.as_str()));
        object.insert("config".into(), self.config.clone());
        Some(out)
    }
}
