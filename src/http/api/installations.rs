//! `GET /api/integrations/{id}/installations`: what a GitHub App can see, as its
//! `installation` and `installation_repositories` deliveries told, and which of those
//! repositories the integration's `repo` or `repos` admit.

use poem::web::Data;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

use super::errors::{AUTHED, ApiError, NOT_FOUND};
use super::{ApiTags, BearerAuth};
use crate::base::error::AppError;
use crate::db::{self, installations, integrations};
use crate::domain::checked::Timestamp;
use crate::domain::integration_config::IntegrationConfig;
use crate::domain::model;
use crate::http::state::SharedState;

pub struct InstallationsApi;

/// A repository an installation shows.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct InstalledRepoOut {
    /// `owner/name`, lower case.
    pub repo: String,
    /// Whether the integration's `repo` or `repos` take its deliveries.
    pub admitted: bool,
    /// Why, e.g. ``repository `my-org/sandbox` is excluded by `!my-org/sandbox` ``.
    pub decision: String,
}

/// One installation of the App: the account it is on and the repositories it shows.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct InstallationOut {
    /// GitHub's id for the installation.
    pub installation_id: i64,
    /// The organisation or user it is installed on (lower case).
    pub account: String,
    /// When GitHub said it was suspended (RFC 3339, UTC); absent while it is not.
    pub suspended_at: Option<Timestamp>,
    /// When a delivery last changed it (RFC 3339, UTC).
    pub updated_at: Timestamp,
    /// Sorted. Empty until an `installation` or `installation_repositories` delivery lists
    /// them (an installation learnt from another delivery shows none).
    pub repositories: Vec<InstalledRepoOut>,
}

/// The App's installations this integration has heard of.
#[derive(Object)]
pub struct InstallationList {
    /// By account. Empty for an integration that does not run as a GitHub App.
    pub items: Vec<InstallationOut>,
}

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Integrations")]
impl InstallationsApi {
    /// List a GitHub App's installations.
    ///
    /// The installations of the integration's GitHub App that deliveries have named, each
    /// with the repositories it shows (kept from `installation` and
    /// `installation_repositories` deliveries) and whether the integration's `repo` or
    /// `repos` patterns admit each one.
    #[oai(
        path = "/:id/installations",
        method = "get",
        operation_id = "listInstallations"
    )]
    async fn list_installations(
        &self,
        _auth: BearerAuth,
        state: Data<&SharedState>,
        /// The integration's id.
        #[oai(example = "crate::http::api::examples::integration_id")]
        id: Path<String>,
    ) -> Result<Json<InstallationList>, ApiError<{ AUTHED | NOT_FOUND }>> {
        let id = model::parse_id(&id.0).ok_or(AppError::NotFound("integration"))?;
        let (integration, kept) = db::run(&state.pool, move |conn| {
            let integration = integrations::get(conn, &id)?;
            let kept = installations::list(conn, &id)?;
            Ok((integration, kept))
        })
        .await?;
        let IntegrationConfig::Github(config) = &integration.settings else {
            return Ok(Json(InstallationList { items: vec![] }));
        };
        let items = kept
            .into_iter()
            .map(|i| InstallationOut {
                installation_id: i.installation_id,
                account: i.account,
                suspended_at: i.suspended_at.map(Timestamp),
                updated_at: Timestamp(i.updated_at),
                repositories: i
                    .repos
                    .into_iter()
                    .map(|repo| {
                        let (admitted, decision) = match config.admission(&repo) {
                            Ok(why) => (true, why),
                            Err(why) => (false, why),
                        };
                        InstalledRepoOut {
                            repo,
                            admitted,
                            decision,
                        }
                    })
                    .collect(),
            })
            .collect();
        Ok(Json(InstallationList { items }))
    }
}
