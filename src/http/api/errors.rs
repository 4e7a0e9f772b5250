//! The error answers each operation documents in the spec.
//!
//! Handlers fail with [`AppError`]; wrapping it in `ApiError<S>` changes nothing at run time
//! (the one status mapping stays in `crate::base::error`) but lists, in the generated spec, every
//! problem status the operation can answer. `S` is a set of the bits below, so each
//! operation names exactly the statuses it can produce.

use poem_openapi::ApiResponse;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::types::Type;

use crate::base::error::{AppError, Problem};

pub const BAD_REQUEST: u32 = 1 << 0;
pub const UNAUTHORIZED: u32 = 1 << 1;
pub const NOT_FOUND: u32 = 1 << 2;
pub const CONFLICT: u32 = 1 << 3;
pub const PAYLOAD_TOO_LARGE: u32 = 1 << 4;
pub const UNSUPPORTED_MEDIA_TYPE: u32 = 1 << 5;
pub const UNPROCESSABLE: u32 = 1 << 6;
pub const UNAVAILABLE: u32 = 1 << 7;
pub const FORBIDDEN: u32 = 1 << 8;
pub const TOO_MANY_REQUESTS: u32 = 1 << 9;

/// Every operation that needs a token and reads the database: the token may be missing or
/// wrong, lack the scope, or come from a source that guessed too often.
pub const AUTHED: u32 = UNAUTHORIZED | FORBIDDEN | TOO_MANY_REQUESTS | UNAVAILABLE;
/// What a JSON request body can add: unreadable JSON, too large, not JSON, wrong fields.
pub const JSON_BODY: u32 = BAD_REQUEST | PAYLOAD_TOO_LARGE | UNSUPPORTED_MEDIA_TYPE | UNPROCESSABLE;

const DESCRIPTIONS: [(u32, u16, &str); 10] = [
    (
        BAD_REQUEST,
        400,
        "The request could not be read: the body is not JSON (`bad_request`).",
    ),
    (
        UNAUTHORIZED,
        401,
        "Missing or wrong credentials: the bearer token for management routes, the signature \
         for the receiver (`unauthorized`).",
    ),
    (
        FORBIDDEN,
        403,
        "The token is valid but lacks the scope this operation needs; `scope` names it \
         (`forbidden`). The operation's `x-scopes` lists the scopes that may call it.",
    ),
    (NOT_FOUND, 404, "No such resource (`not_found`)."),
    (
        CONFLICT,
        409,
        "The server's current state rules this out: the resource is busy or finished, or a \
         value refers to something that does not exist, such as a secret, or a `type` or a \
         config is of another integration type (`conflict`; `field` names the value when \
         there is one).",
    ),
    (
        PAYLOAD_TOO_LARGE,
        413,
        "The body is larger than the limit (`payload_too_large`).",
    ),
    (
        UNSUPPORTED_MEDIA_TYPE,
        415,
        "The body's Content-Type is not accepted here (`unsupported_media_type`).",
    ),
    (
        UNPROCESSABLE,
        422,
        "A value is of the wrong type or format, or out of bounds; `field` names it, e.g. \
         `config.repo` or `limit` (`validation_failed`).",
    ),
    (
        TOO_MANY_REQUESTS,
        429,
        "Too many wrong tokens or sign-ins came from this address; nothing was done. Retry \
         after `Retry-After` seconds (`too_many_requests`).",
    ),
    (
        UNAVAILABLE,
        503,
        "Storage cannot take the request right now; nothing was changed. Retry after \
         `Retry-After` seconds (`unavailable`).",
    ),
];

/// An [`AppError`] whose possible statuses (`S`) are documented in the spec.
#[derive(Debug)]
pub struct ApiError<const S: u32>(pub AppError);

impl<const S: u32> From<AppError> for ApiError<S> {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl<const S: u32> From<ApiError<S>> for poem::Error {
    fn from(e: ApiError<S>) -> Self {
        poem::Error::from(e.0)
    }
}

impl<const S: u32> ApiResponse for ApiError<S> {
    fn meta() -> MetaResponses {
        let problem = MetaSchemaRef::Reference(<Problem as Type>::name().into_owned());
        let responses = DESCRIPTIONS
            .iter()
            .filter(|(bit, _, _)| S & bit != 0)
            .map(|(bit, status, description)| MetaResponse {
                description,
                status: Some(*status),
                status_range: None,
                content: vec![MetaMediaType {
                    content_type: "application/problem+json",
                    schema: problem.clone(),
                }],
                headers: if *bit == UNAVAILABLE || *bit == TOO_MANY_REQUESTS {
                    vec![MetaHeader {
                        name: "Retry-After".into(),
                        description: Some("Seconds to wait before trying again.".into()),
                        required: true,
                        deprecated: false,
                        schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                            "integer", "int32",
                        ))),
                    }]
                } else {
                    vec![]
                },
            })
            .collect();
        MetaResponses { responses }
    }

    fn register(registry: &mut Registry) {
        <Problem as Type>::register(registry);
    }
}

/// The result type of an operation: its answer, or a documented problem.
pub type ApiResult<T, const S: u32> = Result<T, ApiError<S>>;
