//! The one error type of the server and the one place where errors become HTTP statuses.
//!
//! Every error leaves the server as an RFC 9457 problem document
//! (`application/problem+json`). Server-side failures (5xx) never reveal their cause to the
//! client: the cause is logged, the body stays generic.

use poem::http::{HeaderValue, StatusCode, header};
use poem::{IntoResponse, Response};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A resource that does not exist (or that we will not admit exists).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input we understood but refuse; names the offending field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// Input we could not read at all (malformed JSON in a webhook body, say).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    /// A well-formed value that the server's current state rules out (a reference to a
    /// secret that does not exist, a config for another integration type); names the field.
    #[error("{field}: {message}")]
    ConflictAt { field: String, message: String },
    #[error("{0}")]
    Unauthorized(String),
    /// A valid credential without the scope the operation needs; names that scope.
    #[error("this operation needs the `{needed}` scope{held}")]
    Forbidden { needed: String, held: String },
    /// A change asked for with the session cookie but without the page's CSRF token, or from
    /// another site: a cookie alone never authorises a change.
    #[error("{0}")]
    CsrfRefused(String),
    /// Too many failed sign-ins from one source; try again after `retry_after` seconds.
    #[error("too many failed attempts from this address; try again in {retry_after} seconds")]
    TooManyRequests { retry_after: u64 },
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// Storage is temporarily unable to accept writes; the client should try again.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    /// This error as the problem response it becomes.
    pub fn as_problem(&self) -> Response {
        self.to_problem().into_response()
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) | Self::ConflictAt { .. } => StatusCode::CONFLICT,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } | Self::CsrfRefused(_) => StatusCode::FORBIDDEN,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(e) if e.is_unavailable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Db(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn to_problem(&self) -> Problem {
        let status = self.status();
        let code = match self {
            Self::NotFound(_) => "not_found",
            Self::Invalid { .. } => "validation_failed",
            Self::BadRequest(_) => "bad_request",
            Self::Conflict(_) | Self::ConflictAt { .. } => "conflict",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden { .. } => "forbidden",
            Self::CsrfRefused(_) => "csrf_failed",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            _ if status == StatusCode::SERVICE_UNAVAILABLE => "unavailable",
            _ => "internal_error",
        };
        let detail = if status.is_server_error() {
            // The cause goes to the log, never to the client.
            tracing::error!(error = %error_chain(self), "request failed");
            if status == StatusCode::SERVICE_UNAVAILABLE {
                "the server cannot store this request right now; retry later".to_string()
            } else {
                "an internal error occurred; the cause is in the server log".to_string()
            }
        } else {
            self.to_string()
        };
        let mut problem = Problem::new(status, code, detail);
        if let Self::Invalid { field, .. } | Self::ConflictAt { field, .. } = self {
            problem.field = Some(field.clone());
        }
        if let Self::Forbidden { needed, .. } = self {
            problem.scope = Some(needed.clone());
        }
        if let Self::TooManyRequests { retry_after } = self {
            problem.retry_after = Some(*retry_after);
        }
        problem
    }
}

/// A storage failure, classified where it was raised (`db`), so that nothing here depends on
/// a database crate or a backend.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    kind: DbErrorKind,
    message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbErrorKind {
    /// A query that must find a row found none.
    NoRow,
    /// Storage cannot serve now but may again without anyone changing the request: a locked
    /// database, a full disk, a read-only file, no connection. Answered 503 with Retry-After.
    Unavailable,
    Other,
}

impl DbError {
    pub fn new(kind: DbErrorKind, message: impl Into<String>) -> DbError {
        DbError {
            kind,
            message: message.into(),
        }
    }

    pub fn is_no_row(&self) -> bool {
        self.kind == DbErrorKind::NoRow
    }

    pub fn is_unavailable(&self) -> bool {
        self.kind == DbErrorKind::Unavailable
    }

    /// What an operator should read: the condition (`the disk is full`), not an error code.
    pub fn describe(&self) -> &str {
        &self.message
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// An RFC 9457 problem document, as every error answer carries it.
#[derive(Debug, Serialize, poem_openapi::Object)]
#[oai(skip_serializing_if_is_none)]
pub struct Problem {
    /// `urn:provenant:problem:<code>`.
    #[serde(rename = "type")]
    #[oai(rename = "type")]
    pub type_uri: String,
    /// The HTTP reason phrase, e.g. `Unprocessable Entity`.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong, in a sentence. Generic for 5xx answers: the cause is in the server log.
    pub detail: String,
    /// A stable machine-readable code: `bad_request`, `unauthorized`, `not_found`, `conflict`,
    /// `payload_too_large`, `unsupported_media_type`, `validation_failed`, `unavailable`,
    /// `method_not_allowed`, `forbidden`, `too_many_requests`, `internal_error`.
    pub code: String,
    /// For `validation_failed`: the request field at fault, e.g. `config.repo` or `limit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For `forbidden`: the scope the operation needs, e.g. `write`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Sent as `Retry-After` on a 429, not in the body.
    #[serde(skip)]
    #[oai(skip)]
    pub retry_after: Option<u64>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &str, detail: impl Into<String>) -> Self {
        Self {
            type_uri: format!("urn:provenant:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            code: code.to_string(),
            field: None,
            scope: None,
            retry_after: None,
        }
    }

    /// The problem for an error that poem or poem-openapi raised before our handler ran.
    pub fn from_framework(status: StatusCode, message: String) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "validation_failed",
            s if s.is_server_error() => "internal_error",
            _ => "error",
        };
        let detail = if status.is_server_error() {
            tracing::error!(error = %message, "request failed inside the framework");
            "an internal error occurred; the cause is in the server log".to_string()
        } else if status == StatusCode::UNAUTHORIZED {
            "missing or invalid bearer token: send `Authorization: Bearer <token>`".to_string()
        } else if status == StatusCode::NOT_FOUND {
            "no such route".to_string()
        } else {
            message
        };
        Self::new(status, code, detail)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut resp = Response::builder()
            .status(status)
            .header(header::CONTENT_TYPE, "application/problem+json")
            .body(body);
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if let Some(seconds) = self.retry_after {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        resp
    }
}

impl poem::error::ResponseError for AppError {
    fn status(&self) -> StatusCode {
        AppError::status(self)
    }

    fn as_response(&self) -> Response {
        self.to_problem().into_response()
    }
}

pub type AppResult<T> = Result<T, AppError>;
