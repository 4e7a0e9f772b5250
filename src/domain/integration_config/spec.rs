//! What the spec shows for request and response bodies: a new integration of each type, and
//! a config of any type (checked against its type by [`IntegrationConfig::parse`]).

use poem_openapi::registry::{MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use poem_openapi::{Object, Union};
use serde::Deserialize;
use serde_json::Value;

use super::{GithubConfig, GitlabConfig, SlackConfig, WebhookConfig};
use crate::domain::checked::Name;

/// A new GITHUB integration.
///
/// `config`: The GitHub config.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewGithubIntegration {
    /// A friendly label, 1–200 characters.
    pub name: Name,
    // The GitHub config.
    pub config: GithubConfig,
}

/// A new GITLAB integration.
///
/// `config`: The GitLab config.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewGitlabIntegration {
    /// A friendly label, 1–200 characters.
    pub name: Name,
    // The GitLab config.
    pub config: GitlabConfig,
}

/// A new SLACK integration.
///
/// `config`: The Slack config.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewSlackIntegration {
    /// A friendly label, 1–200 characters.
    pub name: Name,
    // The Slack config.
    pub config: SlackConfig,
}

/// A new WEBHOOK integration.
///
/// `config`: The generic webhook config.
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct NewWebhookIntegration {
    /// A friendly label, 1–200 characters.
    pub name: Name,
    // The generic webhook config.
    pub config: WebhookConfig,
}

/// A new integration: `type` says which config it has. Keys not listed are kept (for notes),
/// except likely misspellings of listed ones, which are refused.
#[derive(Union)]
#[oai(discriminator_name = "type", one_of)]
pub enum NewIntegrationDoc {
    #[oai(mapping = "GITHUB")]
    Github(NewGithubIntegration),
    #[oai(mapping = "GITLAB")]
    Gitlab(NewGitlabIntegration),
    #[oai(mapping = "SLACK")]
    Slack(NewSlackIntegration),
    #[oai(mapping = "WEBHOOK")]
    Webhook(NewWebhookIntegration),
}

/// A config object of any type, as the spec describes a config whose type is given
/// elsewhere (responses, PATCH). Checked against its type by [`IntegrationConfig::parse`].
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct AnyConfig(pub Value);

impl Type for AnyConfig {
    const IS_REQUIRED: bool = true;
    type RawValueType = Value;
    type RawElementValueType = Value;

    fn name() -> std::borrow::Cow<'static, str> {
        "AnyConfig".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        let reference =
            |name: std::borrow::Cow<'static, str>| MetaSchemaRef::Reference(name.into());
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some(
                "The config of the integration's type: GithubConfig, GitlabConfig, SlackConfig \
                 or WebhookConfig, plus any keys of the user's own.",
            ),
            any_of: vec![
                reference(GithubConfig::name()),
                reference(GitlabConfig::name()),
                reference(SlackConfig::name()),
                reference(WebhookConfig::name()),
            ],
            ..MetaSchema::new("object")
        }))
    }

    fn register(registry: &mut Registry) {
        GithubConfig::register(registry);
        GitlabConfig::register(registry);
        SlackConfig::register(registry);
        WebhookConfig::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Value> {
        Some(&self.0)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Value> + 'a> {
        Box::new(std::iter::once(&self.0))
    }
}

impl ParseFromJSON for AnyConfig {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(v @ Value::Object(_)) => Ok(AnyConfig(v)),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

impl ToJSON for AnyConfig {
    fn to_json(&self) -> Option<Value> {
        Some(self.0.clone())
    }
}
