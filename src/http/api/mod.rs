//! The JSON API under `/api`: the OpenAPI service, its security scheme, and the middleware
//! that turns every error into a problem document.

pub mod alerts;
pub mod audit;
pub mod body;
pub mod checks;
pub mod cluster;
pub mod doctor;
pub mod errors;
pub mod events;
pub mod examples;
pub mod github_app_setup;
pub mod guard;
pub mod health;
pub mod installations;
pub mod integration_out;
pub mod integration_patch;
pub mod integrations;
pub mod metrics;
pub mod middleware;
pub mod outbox;
pub mod paging;
pub mod paths;
pub mod receiver;
pub mod reconcile;
pub mod rejections;
pub mod replay;
pub mod rotation;
pub mod run_results;
pub mod runs;
pub mod secrets;
pub mod sessions;
pub mod spec;
pub mod sso;
pub mod stats;
pub mod tokens;

use poem::http::StatusCode;
use poem::{Endpoint, EndpointExt, IntoResponse, Request, Response, Route};
use poem_openapi::auth::Bearer;
use poem_openapi::{OpenApiService, SecurityScheme, Tags};

use crate::base::error::{AppError, Problem};
use crate::domain::audit::Caller;
use crate::http::state::SharedState;
use receiver::ReceiverApi;

/// Bodies of management requests are small JSON documents.
pub const API_BODY_LIMIT: usize = 1024 * 1024;

#[derive(Tags)]
pub enum ApiTags {
    /// Liveness and queue figures.
    Health,
    /// Configured connections to GitHub, GitLab, Slack and generic webhook senders.
    Integrations,
    /// Deliveries received by an integration and their processing status.
    Events,
    /// The public, unauthenticated receiver that senders post deliveries to.
    Webhooks,
    /// Write-only named values that configs refer to as `${secret:NAME}`.
    Secrets,
    /// Eval runs and deployments triggered by GitHub and GitLab deliveries.
    Runs,
    /// What is said to the outside world (Slack messages, commit statuses, GitHub
    /// deployments), its destinations, and integration tests.
    Notifications,
    /// API tokens with scopes, who the caller is, and the audit log of every change.
    Access,
}

/// `Authorization: Bearer <token>`: the token from `PROVENANT_API_TOKEN` or the one generated
/// into `<data-dir>/api-token` on first start (both `admin`), or one made with
/// `POST /api/tokens`, with its scopes. Each operation's `x-scopes` lists the scopes that may
/// call it.
#[derive(SecurityScheme)]
#[oai(ty = "bearer", checker = "check_token")]
pub struct BearerAuth(pub Caller);

async fn check_token(req: &Request, _bearer: Bearer) -> Option<Caller> {
    // `guard` read the header (with the one parser every route shares, `/metrics` too) and
    // admitted the caller before any handler runs.
    req.extensions().get::<Caller>().cloned()
}

type Apis = (
    health::HealthApi,
    integrations::IntegrationsApi,
    events::EventsApi,
    ReceiverApi,
    secrets::SecretsApi,
    runs::RunsApi,
    outbox::OutboxApi,
    checks::ChecksApi,
    rejections::RejectionsApi,
    installations::InstallationsApi,
    github_app_setup::GithubAppSetupApi,
    rotation::RotationApi,
    replay::ReplayApi,
    reconcile::ReconcileApi,
    cluster::ClusterApi,
    // poem-openapi takes tuples of up to 16 APIs.
    (
        doctor::DoctorApi,
        tokens::TokensApi,
        audit::AuditApi,
        sessions::SessionsApi,
        stats::IntegrationStatsApi,
        stats::DestinationStatsApi,
        alerts::AlertsApi,
        run_results::RunResultsApi,
    ),
);

pub fn service() -> OpenApiService<Apis, ()> {
    OpenApiService::new(
        (
            health::HealthApi,
            integrations::IntegrationsApi,
            events::EventsApi,
            ReceiverApi,
            secrets::SecretsApi,
            runs::RunsApi,
            outbox::OutboxApi,
            checks::ChecksApi,
            rejections::RejectionsApi,
            installations::InstallationsApi,
            github_app_setup::GithubAppSetupApi,
            rotation::RotationApi,
            replay::ReplayApi,
            reconcile::ReconcileApi,
            cluster::ClusterApi,
            (
                doctor::DoctorApi,
                tokens::TokensApi,
                audit::AuditApi,
                sessions::SessionsApi,
                stats::IntegrationStatsApi,
                stats::DestinationStatsApi,
                alerts::AlertsApi,
                run_results::RunResultsApi,
            ),
        ),
        "Provenant Integrations",
        env!("CARGO_PKG_VERSION"),
    )
    .description(
        "Connects an AI-agent delivery workflow to GitHub, GitLab, Slack and any webhook sender. \
         Every route except health, this document, the explorer and the webhook receiver needs \
         `Authorization: Bearer <token>`. Errors are RFC 9457 problem documents \
         (`application/problem+json`) with a stable `code`.",
    )
    .server("/api")
    .license(
        poem_openapi::LicenseObject::new("Apache-2.0")
            .url("https://www.apache.org/licenses/LICENSE-2.0"),
    )
    .contact(
        // The project's own address goes here once it has a public one.
        poem_openapi::ContactObject::new().name("Provenant Integrations"),
    )
}

/// poem-openapi says `failed to parse "integer(int32)": verification failed. minimum(1, …)`;
/// the parameter's name is already in `field`.
pub(crate) fn param_reason(reason: &str) -> String {
    let reason = reason.trim();
    if reason.is_empty() {
        "is not a valid value".into()
    } else {
        format!("is not valid: {reason}")
    }
}

/// The OpenAPI document as committed in `openapi.json` and served at `/api/openapi.json`.
pub fn spec_json() -> String {
    spec::finish(&service().spec())
}

/// What the API explorer may load: Swagger UI's page inlines its script, its styles and the
/// spec, and calls only this origin. It is never framed (it runs on the origin that holds the
/// token).
pub const DOCS_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self' 'unsafe-inline'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; \
     connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// `/api/*`, with body limits, problem-document errors and request logs. No answer is kept by
/// a cache (they carry configs, events and payloads).
pub fn routes(state: SharedState) -> impl Endpoint {
    let service = service();
    let raw_spec = service.spec();
    let finished = spec::finish(&raw_spec);
    let explorer = spec::explorer_html(&service.swagger_ui_html(), &raw_spec, &finished);
    let docs = poem::endpoint::make_sync(move |_| poem::web::Html(explorer.clone())).with(
        poem::middleware::SetHeader::new()
            .overriding("Content-Security-Policy", DOCS_CONTENT_SECURITY_POLICY)
            .overriding("X-Content-Type-Options", "nosniff")
            .overriding("Referrer-Policy", "no-referrer"),
    );
    let spec_endpoint = {
        let finished = finished.clone();
        poem::endpoint::make_sync(move |_| {
            poem::Response::builder()
                .content_type("application/json")
                .body(finished.clone())
        })
    };
    let api = Route::new()
        .at("/openapi.json", spec_endpoint)
        .at("/docs", docs)
        .nest("/", service);
    let limits = middleware::BodyLimit {
        webhook: state.max_body_bytes,
        api: API_BODY_LIMIT,
        metrics: state.metrics.clone(),
    };
    let spec: serde_json::Value = serde_json::from_str(&spec_json()).unwrap_or_default();
    let paths = std::sync::Arc::new(paths::ApiPaths::from_spec(&spec));
    let named = paths.clone();
    let guarded = paths.clone();
    api.around(move |next, req| guard::guard(guarded.clone(), next, req))
        .with(limits)
        .around(move |next, req| paths::name_path_errors(named.clone(), next, req))
        .catch_all_error(problem_response)
        .around(move |next, req| paths::add_allow_header(paths.clone(), next, req))
        .with(poem::middleware::SetHeader::new().overriding("Cache-Control", "no-store"))
        .data(state)
}

/// Renders any error as a problem document, keeping its status. A query or path value the
/// spec refuses (out of bounds, wrong format, unknown enum value) is a 422 naming the
/// parameter, like any other value we understood but refuse.
pub async fn problem_response(err: poem::Error) -> Response {
    if let Some(app_error) = err.downcast_ref::<AppError>() {
        return poem::error::ResponseError::as_response(app_error);
    }
    if let Some(e) = err.downcast_ref::<poem_openapi::error::ParseParamError>() {
        return AppError::invalid(e.name, param_reason(&e.reason)).as_problem();
    }
    let status = err.status();
    let status = if status == StatusCode::OK {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        status
    };
    Problem::from_framework(status, err.to_string()).into_response()
}
