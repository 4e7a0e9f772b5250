//! JSON request bodies, read strictly.
//!
//! poem-openapi's `Json<T>` answers 400 for every body it cannot take, and its `String` takes
//! any JSON scalar. Here a body that is not JSON is a 400; JSON with a wrong type, a missing
//! field or a refused value is a 422 whose `field` names the place (`config.repo`,
//! `events[1]`). Types are checked by serde: nothing is coerced.

use std::marker::PhantomData;

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{AppError, AppResult};
use crate::webhook::classify;

/// A JSON body parsed into `T` with serde. `D` is the type whose schema the spec shows
/// (`T` itself unless the wire shape is richer than one derive can say, as for a new
/// integration, whose `config` depends on its `type`).
pub struct JsonBody<T, D = T>(pub T, PhantomData<D>);

impl<'a, T, D> ApiExtractor<'a> for JsonBody<T, D>
where
    T: DeserializeOwned + Send,
    D: Type,
{
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];
    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        D::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: None,
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: D::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let media = classify::media_type(request.content_type());
        if !media.as_deref().is_some_and(classify::is_json) {
            return Err(AppError::UnsupportedMediaType(
                "send the body as Content-Type: application/json".into(),
            )
            .into());
        }
        let bytes = body.take()?.into_vec().await?;
        let value: Value = serde_json::from_slice(&bytes)
            .map_err(|e| AppError::BadRequest(format!("the body is not valid JSON: {e}")))?;
        if !value.is_object() {
            return Err(AppError::invalid("body", "must be a JSON object").into());
        }
        Ok(JsonBody(from_value(value, "")?, PhantomData))
    }
}

/// Deserializes `value` into `T`; a failure names its place, under `prefix` (`config`).
pub fn from_value<T: DeserializeOwned>(value: Value, prefix: &str) -> AppResult<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let mut field = join(prefix, if path == "." { "" } else { &path });
        let mut message = e.inner().to_string();
        // serde reports a missing field at its parent: name the field itself.
        if let Some(missing) = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.strip_suffix('`'))
        {
            field = join(&field, missing);
            message = "is required".into();
        }
        if field.is_empty() {
            field = "body".into();
        }
        AppError::invalid(field, tidy(&message))
    })
}

/// For optional fields of request bodies: absent means "not given", but `null` is refused
/// like any other wrong type (the spec declares the field's type, not `null`).
/// Use as `#[serde(default, deserialize_with = "present")]`.
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

fn join(prefix: &str, path: &str) -> String {
    match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    }
}

/// serde says "invalid type: boolean `true`, expected a string"; a field error reads better as
/// "must be a string, not boolean `true`".
fn tidy(message: &str) -> String {
    if let Some(rest) = message.strip_prefix("invalid type: ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!("must be {expected}, not {got}");
    }
    message.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        repo: String,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        config: Inner,
        events: Option<Vec<String>>,
    }

    fn field_and_message(v: Value) -> (String, String) {
        match from_value::<Outer>(v, "") {
            Err(AppError::Invalid { field, message }) => (field, message),
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn wrong_types_are_refused_with_their_place() {
        let (field, message) = field_and_message(json!({"name": true, "config": {"repo": "a"}}));
        assert_eq!(field, "name");
        assert_eq!(message, "must be a string, not boolean `true`");
        let (field, _) = field_and_message(json!({"name": "n", "config": {"repo": 5}}));
        assert_eq!(field, "config.repo");
        let (field, _) =
            field_and_message(json!({"name": "n", "config": {"repo": "a"}, "events": ["a", 1]}));
        assert_eq!(field, "events[1]");
    }

    #[test]
    fn missing_fields_are_named() {
        let (field, message) = field_and_message(json!({"name": "n", "config": {}}));
        assert_eq!(
            (field.as_str(), message.as_str()),
            ("config.repo", "is required")
        );
        let (field, _) = field_and_message(json!({"config": {"repo": "a"}}));
        assert_eq!(field, "name");
        let (field, _) = field_and_message(json!("text"));
        assert_eq!(field, "body");
    }
}
