//! `POST /api/integrations/webhook/{integrationId}`: the public receiver.
//!
//! Order matters: find the integration, verify the signature on the raw bytes, check the body
//! format, then hand the delivery to the group-commit writer and answer only once it is on
//! disk. Processing happens later, on the worker thread.

use std::sync::Arc;

use poem::http::HeaderMap;
use poem::web::Data;
use poem::{Request, RequestBody};
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaMediaType, MetaRequest, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use poem_openapi::{ApiResponse, Object, OpenApi, Union};

use super::ApiTags;
use super::errors::{
    ApiError, BAD_REQUEST, NOT_FOUND, PAYLOAD_TOO_LARGE, UNAUTHORIZED, UNAVAILABLE,
    UNSUPPORTED_MEDIA_TYPE,
};
use crate::base::error::AppError;
use crate::db::events::{Inserted, NewEvent};
use crate::db::packed;
use crate::db::rejections::Rejection;
use crate::db::{self, integrations};
use crate::domain::model::{self, EventStatus, IntegrationType};
use crate::domain::webhook::directory::Receiving;
use crate::domain::webhook::{classify, slack, verify};
use crate::http::state::SharedState;
use crate::pipeline::secrets;

pub struct ReceiverApi;

/// Bodies up to this size are verified, parsed and compressed on the request's own thread.
const INLINE_CHECK_BYTES: usize = 64 * 1024;

/// Why a delivery is not stored.
enum Refused {
    /// Its signature or token did not verify (401, and counted on the integration).
    Signature(String),
    /// Its format is wrong for the integration type (400, 415).
    Invalid(AppError),
}

/// A refusal, with what the rejections log keeps of the delivery (never its body).
struct Refusal {
    why: Refused,
    headers: Vec<(String, String)>,
    body_bytes: i64,
    body_sha256: String,
}

impl Refusal {
    fn of(why: Refused, delivery: &RawDelivery) -> Box<Refusal> {
        use sha2::{Digest, Sha256};
        Box::new(Refusal {
            why,
            headers: classify::headers_for_rejection(&delivery.headers),
            body_bytes: delivery.body.len() as i64,
            body_sha256: hex::encode(Sha256::digest(&delivery.body)),
        })
    }
}

/// What to do with a delivery that passed its checks.
enum Checked {
    /// Store it; `previous_secret` when it was signed with the secret before a rotation.
    Store {
        event: NewEvent,
        previous_secret: bool,
    },
    /// Slack's `url_verification` handshake: echo the challenge, store nothing.
    Challenge(String),
}

/// The secrets a delivery may be signed with, at the moment it arrived.
struct Signing {
    current: Option<String>,
    /// The secret before the last rotation, while its overlap lasts.
    previous: Option<String>,
}

/// Verifies and classifies a delivery: everything the receiver does with the body before it
/// is stored.
fn check_delivery(
    kind: IntegrationType,
    integration_id: String,
    signing: Signing,
    delivery: RawDelivery,
    received_at: i64,
) -> Result<Checked, Box<Refusal>> {
    let previous_secret = match verify_signature(kind, &signing, &delivery, received_at) {
        Ok(previous) => previous,
        Err(reason) => return Err(Refusal::of(Refused::Signature(reason), &delivery)),
    };
    let (event_type, delivery_id) = match classify_delivery(kind, &delivery) {
        Ok(Ok(read)) => read,
        Ok(Err(challenge)) => return Ok(Checked::Challenge(challenge)),
        Err(e) => return Err(Refusal::of(Refused::Invalid(e), &delivery)),
    };
    let verified = signing.current.as_ref().map(|_| {
        let which = if previous_secret {
            "previous"
        } else {
            "current"
        };
        format!("{}|{which}", verify::scheme(kind, &delivery.headers))
    });
    Ok(Checked::Store {
        event: NewEvent {
            verified,
            id: model::new_row_id(),
            integration_id,
            event_type,
            delivery_id,
            headers: classify::headers_to_store(&delivery.headers),
            content_type: delivery.content_type,
            payload: packed::pack(delivery.body),
            received_at,
        },
        previous_secret,
    })
}

/// Checks the signature against the current secret, then the previous one during a
/// rotation's overlap; true when only the previous one matched. A refusal's reason says when
/// the configured secret would match without its surrounding whitespace (a pasted newline).
fn verify_signature(
    kind: IntegrationType,
    signing: &Signing,
    delivery: &RawDelivery,
    received_at: i64,
) -> Result<bool, String> {
    let Some(current) = &signing.current else {
        return Ok(false);
    };
    // An example value published in the docs (which earlier versions of the New Integration
    // form filled in) verifies nothing: anyone can sign with it.
    if crate::domain::integration_config::is_published_example(current) {
        return Err(
            "the integration's webhook secret is an example value published in the docs, so \
             anyone could sign with it: set a secret of your own (Rotate on its page)"
                .to_string(),
        );
    }
    let check = |secret: &str| {
        verify::verify(
            kind,
            &verify::Secret(secret),
            &delivery.headers,
            &delivery.body,
            received_at / 1000,
        )
    };
    let Err(reason) = check(current) else {
        return Ok(false);
    };
    if let Some(previous) = &signing.previous
        && check(previous).is_ok()
    {
        return Ok(true);
    }
    let trimmed = current.trim();
    if trimmed != current && !trimmed.is_empty() && check(trimmed).is_ok() {
        let what = if current.ends_with('\n') {
            "trailing newline"
        } else {
            "surrounding whitespace"
        };
        return Err(format!(
            "{reason}; it would match the configured secret without its {what}: save the secret again without it"
        ));
    }
    Err(reason.to_string())
}

/// The event type and delivery id, or Slack's handshake challenge (`Ok(Err(challenge))`).
fn classify_delivery(
    kind: IntegrationType,
    delivery: &RawDelivery,
) -> Result<Result<(String, Option<String>), String>, AppError> {
    let content_type = delivery.content_type.as_deref();
    if kind == IntegrationType::Slack {
        let request = slack::read(content_type, &delivery.body);
        if let Some(challenge) = request.challenge {
            return Ok(Err(challenge));
        }
        let delivery_id = request
            .delivery_id
            .or_else(|| classify::delivery_id(kind, &delivery.headers));
        return Ok(Ok((request.event_type, delivery_id)));
    }
    let json = classify::parse_body(kind, content_type, &delivery.body)?;
    let event_type = classify::event_type(kind, &delivery.headers, json.as_ref())?;
    Ok(Ok((
        event_type,
        classify::delivery_id(kind, &delivery.headers),
    )))
}

/// The delivery exactly as sent: raw body bytes, headers and content type. Unlike
/// `Binary<Vec<u8>>`, it also accepts a request without a `Content-Type` header, which some
/// generic senders omit.
pub struct RawDelivery {
    pub headers: HeaderMap,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    /// The sender's address (the connection's peer), for the rejections log.
    pub source: Option<String>,
}

impl<'a> ApiExtractor<'a> for RawDelivery {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(_registry: &mut Registry) {}

    fn request_meta() -> Option<MetaRequest> {
        // What a WEBHOOK integration's sender might post; GitHub's and GitLab's deliveries
        // also need their event header, which a body's example cannot carry.
        let any_json = MetaSchemaRef::Inline(Box::new(MetaSchema {
            example: Some(serde_json::json!({
                "type": "deploy.finished",
                "data": {"service": "api", "version": "1.4.2"}
            })),
            ..MetaSchema::ANY
        }));
        let form = MetaSchemaRef::Inline(Box::new(MetaSchema {
            example: Some(
                serde_json::json!({"payload": "{\"zen\":\"Keep it logically awesome.\"}"}),
            ),
            ..MetaSchema::new("object")
        }));
        let raw = MetaSchemaRef::Inline(Box::new(MetaSchema {
            format: Some("binary"),
            example: Some("deploy finished: api 1.4.2".into()),
            ..MetaSchema::new("string")
        }));
        Some(MetaRequest {
            description: Some(
                "The delivery, exactly as the sender signed it. GitHub and GitLab send \
                 `application/json` (or GitHub's form mode: `application/x-www-form-urlencoded` \
                 with the JSON in `payload`); WEBHOOK integrations also accept any other body, \
                 an empty one included.",
            ),
            content: vec![
                MetaMediaType {
                    content_type: "application/json",
                    schema: any_json,
                },
                MetaMediaType {
                    content_type: "application/x-www-form-urlencoded",
                    schema: form,
                },
                MetaMediaType {
                    content_type: "application/octet-stream",
                    schema: raw,
                },
            ],
            // A WEBHOOK integration takes an empty delivery too.
            required: false,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        // The body limit middleware has already bounded the size.
        let bytes = body.take()?.into_vec().await?;
        Ok(RawDelivery {
            headers: request.headers().clone(),
            content_type: request.content_type().map(str::to_string),
            body: bytes,
            // Behind a trusted proxy, the client it names (see `proxy`).
            source: crate::http::proxy::client_of(request)
                .ip
                .map(|ip| ip.to_string()),
        })
    }
}

/// The receiver's answer.
///
/// `status`: `RECEIVED` for a new delivery; absent for a redelivery.
#[derive(Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct DeliveryAccepted {
    /// The stored event's id.
    pub event_id: String,
    // `RECEIVED` for a new delivery; absent for a redelivery.
    pub status: Option<EventStatus>,
    /// `true` when this delivery id was already stored; nothing new was stored.
    pub duplicate: bool,
}

/// The answer to Slack's `url_verification` handshake (Events API request URL setup).
#[derive(Object)]
#[oai(skip_serializing_if_is_none)]
pub struct SlackChallenge {
    /// The `challenge` Slack sent, echoed back.
    pub challenge: String,
}

/// A 200 answer: a redelivery, or Slack's handshake.
#[derive(Union)]
pub enum ReceiveOk {
    Duplicate(DeliveryAccepted),
    Challenge(SlackChallenge),
}

#[derive(ApiResponse)]
pub enum ReceiveResponse {
    /// A redelivery of a delivery id already stored for this integration (nothing new was
    /// stored), or the answer to Slack's `url_verification` handshake.
    #[oai(status = 200)]
    Ok(Json<ReceiveOk>),
    /// Stored durably; it will be processed in the background.
    #[oai(status = 202)]
    Accepted(Json<DeliveryAccepted>),
}

/// Unknown ids, bad signatures, bodies of the wrong format or size, storage trouble.
type ReceiveErrors = ApiError<
    {
        BAD_REQUEST
            | UNAUTHORIZED
            | NOT_FOUND
            | PAYLOAD_TOO_LARGE
            | UNSUPPORTED_MEDIA_TYPE
            | UNAVAILABLE
    },
>;

#[OpenApi(prefix_path = "/integrations", tag = "ApiTags::Webhooks")]
impl ReceiverApi {
    /// Receive a webhook delivery.
    ///
    /// Receive a delivery. Needs no token. An unknown or inactive integration answers 404.
    /// When the integration has a secret, the delivery must be signed: GitHub
    /// `X-Hub-Signature-256` (or legacy `X-Hub-Signature`), GitLab `X-Gitlab-Token` or
    /// Standard Webhooks headers, Slack `X-Slack-Signature` with `X-Slack-Request-Timestamp`
    /// (the app's signing secret), generic senders Standard Webhooks (`webhook-id`,
    /// `webhook-timestamp`, `webhook-signature`) or `X-Hub-Signature-256`; a bad signature
    /// answers 401 and stores nothing. The delivery is on disk before the 202 is sent.
    #[oai(
        path = "/webhook/:integration_id",
        method = "post",
        operation_id = "receiveWebhook"
    )]
    async fn receive_webhook(
        &self,
        state: Data<&SharedState>,
        /// The integration's id, from its `webhookUrl`.
        #[oai(example = "crate::http::api::examples::integration_id")]
        integration_id: Path<String>,
        delivery: RawDelivery,
    ) -> Result<ReceiveResponse, ReceiveErrors> {
        let started = std::time::Instant::now();
        let (kind, result) = receive(&state, &integration_id.0, delivery).await;
        let label = match &result {
            Ok(ReceiveResponse::Accepted(_)) => "accepted",
            Ok(ReceiveResponse::Ok(Json(ReceiveOk::Duplicate(_)))) => "duplicate",
            Ok(ReceiveResponse::Ok(Json(ReceiveOk::Challenge(_)))) => "handshake",
            Err(AppError::NotFound(_)) => "not_found",
            Err(AppError::Unauthorized(_)) => "rejected_signature",
            Err(e) if e.status().is_server_error() => "unavailable",
            Err(_) => "invalid",
        };
        let kind = kind.map_or("unknown", IntegrationType::as_str);
        state.metrics.delivery(kind, label, Some(started.elapsed()));
        Ok(result?)
    }
}

/// The receiver's work; returns the integration's type once known, for the metrics.
async fn receive(
    state: &SharedState,
    raw_id: &str,
    delivery: RawDelivery,
) -> (Option<IntegrationType>, Result<ReceiveResponse, AppError>) {
    // Unknown, malformed and inactive ids get the same answer: don't reveal which.
    let Some(id) = model::parse_id(raw_id) else {
        return (None, Err(AppError::NotFound("integration")));
    };
    let receiving = match state.receivers.get(&id) {
        Ok(known) => known,
        Err(generation) => match look_up(state, id).await {
            Ok(Some(found)) => {
                let found = Arc::new(found);
                state.receivers.add(generation, found.clone());
                found
            }
            Ok(None) => return (None, Err(AppError::NotFound("integration"))),
            Err(e) => return (None, Err(e)),
        },
    };
    (
        Some(receiving.kind),
        receive_for(state, &receiving, delivery).await,
    )
}

/// Reads an integration and resolves its signing secret; None when it does not exist or is
/// inactive. A `${secret:NAME}` reference is resolved here, at its moment of use.
async fn look_up(state: &SharedState, id: String) -> Result<Option<Receiving>, AppError> {
    let secrets = state.secrets.clone();
    let now = state.clock.now_ms();
    db::run(&state.pool, move |conn| {
        let Some(integration) = integrations::find(conn, &id)?.filter(|i| i.is_active) else {
            return Ok(None);
        };
        let secret = match integration.settings.signing_secret() {
            None => None,
            Some((key, value)) => {
                secrets::resolve_config_value(conn, &secrets, &id, key, Some(value), None)
                    .map_err(|e| AppError::Internal(anyhow::anyhow!(e)))?
            }
        };
        let previous = secrets::previous_signing_secret(conn, &secrets, &integration, now)?;
        Ok(Some(Receiving {
            last_delivery_at: integration.last_event_at.unwrap_or(0).into(),
            id: integration.id,
            kind: integration.kind,
            secret,
            previous,
        }))
    })
    .await
}

/// Verifies, reads and stores a delivery for an active integration.
async fn receive_for(
    state: &SharedState,
    integration: &Receiving,
    delivery: RawDelivery,
) -> Result<ReceiveResponse, AppError> {
    let large = delivery.body.len() > INLINE_CHECK_BYTES;
    let received_at = state.clock.now_ms();
    let signing = Signing {
        current: integration.secret.clone(),
        previous: integration
            .previous
            .as_ref()
            .filter(|(_, until)| *until > received_at)
            .map(|(secret, _)| secret.clone()),
    };
    let (kind, integration_id) = (integration.kind, integration.id.clone());
    let id_for_check = integration_id.clone();
    let source = delivery.source.clone();
    let check = move || check_delivery(kind, id_for_check, signing, delivery, received_at);
    // Hashing and parsing a large body takes milliseconds: not on the async threads.
    let checked = if large {
        tokio::task::spawn_blocking(check)
            .await
            .map_err(|e| AppError::Internal(anyhow::anyhow!("checking a delivery failed: {e}")))?
    } else {
        check()
    };
    let (event, previous_secret) = match checked {
        Ok(Checked::Store {
            event,
            previous_secret,
        }) => (event, previous_secret),
        Ok(Checked::Challenge(challenge)) => {
            return Ok(ReceiveResponse::Ok(Json(ReceiveOk::Challenge(
                SlackChallenge { challenge },
            ))));
        }
        Err(refusal) => {
            let refusal = *refusal;
            let (status, reason, error) = match refusal.why {
                Refused::Signature(reason) => (401, reason.clone(), AppError::Unauthorized(reason)),
                Refused::Invalid(e) => (e.status().as_u16(), e.to_string(), e),
            };
            tracing::info!(integration = %integration_id, %reason, "delivery refused");
            state.writer.record_rejection(Rejection {
                integration_id,
                at: received_at,
                status,
                reason,
                source,
                headers: refusal.headers,
                body_bytes: refusal.body_bytes,
                body_sha256: refusal.body_sha256,
            });
            return Err(error);
        }
    };
    if previous_secret {
        state
            .writer
            .record_previous_secret_used(&integration_id, received_at);
    }
    match state.writer.insert(event).await? {
        Inserted::New(event_id) => {
            // Deliveries after a long silence: the silence may hide some that never arrived.
            let before = integration
                .last_delivery_at
                .swap(received_at, std::sync::atomic::Ordering::Relaxed);
            if before > 0
                && received_at - before > crate::pipeline::reconcile::GAP.as_millis() as i64
                && matches!(kind, IntegrationType::Github | IntegrationType::Gitlab)
            {
                state.reconcile.wake(&integration.id);
            }
            Ok(ReceiveResponse::Accepted(Json(DeliveryAccepted {
                event_id,
                status: Some(EventStatus::Received),
                duplicate: false,
            })))
        }
        Inserted::Duplicate(event_id) => Ok(ReceiveResponse::Ok(Json(ReceiveOk::Duplicate(
            DeliveryAccepted {
                event_id,
                status: None,
                duplicate: true,
            },
        )))),
    }
}
