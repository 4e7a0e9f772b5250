//! How the spec shows a change to an integration: a `oneOf` on `type`, with a
//! `discriminator`, one schema per type whose `config` is that type's config, as creation and
//! reading already are. A generated client then builds a WEBHOOK change with a
//! `WebhookConfig`, not with whichever config type happens to match first.
//!
//! The body itself is read into [`IntegrationPatch`]. `type` is required by the spec, so
//! clients always say which type they mean, but the server also takes a change without it:
//! the pages and scripts written before this union send none. A `type` that is not the
//! integration's own is a 409: an integration's type never changes.

use poem_openapi::{Object, Union};
use serde_json::{Value, json};

use super::examples::JsonExample;
use crate::domain::checked::Name;
use crate::domain::integration_config::{GithubConfig, GitlabConfig, SlackConfig, WebhookConfig};

/// What a change may set whatever the integration's type; absent fields stay as they are.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct PatchFields {
    /// A new label, 1–200 characters.
    pub name: Option<Name>,
    /// `false` makes the webhook endpoint answer 404 until it is set back to `true`.
    pub is_active: Option<bool>,
}

macro_rules! patch_of_type {
    ($name:ident, $config:ty, $doc:literal) => {
        #[doc = $doc]
        ///
        /// `config`: A whole new config, checked as on create. A value of `***` under a key
        /// containing `secret` or `token`, or a masked `webhook_url`, keeps the stored value,
        /// so a config read from this API can be sent back unchanged.
        #[derive(Object)]
        #[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
        pub struct $name {
            #[oai(flatten)]
            pub fields: PatchFields,
            pub config: Option<$config>,
        }
    };
}

patch_of_type!(
    GithubIntegrationPatch,
    GithubConfig,
    "Changes to a GITHUB integration."
);
patch_of_type!(
    GitlabIntegrationPatch,
    GitlabConfig,
    "Changes to a GITLAB integration."
);
patch_of_type!(
    SlackIntegrationPatch,
    SlackConfig,
    "Changes to a SLACK integration."
);
patch_of_type!(
    WebhookIntegrationPatch,
    WebhookConfig,
    "Changes to a WEBHOOK integration."
);

/// Changes to an integration: `type` is the integration's own (it cannot change) and says
/// which config it takes. Absent fields stay as they are.
#[derive(Union)]
#[oai(rename = "IntegrationPatch", discriminator_name = "type", one_of)]
pub enum IntegrationPatchDoc {
    #[oai(mapping = "GITHUB")]
    Github(GithubIntegrationPatch),
    #[oai(mapping = "GITLAB")]
    Gitlab(GitlabIntegrationPatch),
    #[oai(mapping = "SLACK")]
    Slack(SlackIntegrationPatch),
    #[oai(mapping = "WEBHOOK")]
    Webhook(WebhookIntegrationPatch),
}

impl JsonExample for IntegrationPatchDoc {
    /// Pause a WEBHOOK integration and rename it.
    fn json_example() -> Value {
        json!({"type": "WEBHOOK", "name": "Deploy hook (paused)", "isActive": false})
    }
}
