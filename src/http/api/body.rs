//! JSON request bodies, read strictly.
//!
//! poem-openapi's `Json<T>` answers 400 for every body it cannot take, and its `String` takes
//! any JSON scalar. Here a body that is not JSON is a 400; JSON with a wrong type, a missing
//! field or a refused value is a 422 whose `field` names the place (`config.repo`,
//! `events[1]`). Types are checked by serde: nothing is coerced.

use crate::domain::json_fields::from_value;
use std::marker::PhantomData;

use poem::{Request, RequestBody};
use poem_openapi::registry::{MetaMediaType, MetaRequest, Registry};
use poem_openapi::types::Type;
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::base::error::AppError;
use crate::domain::webhook::classify;

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
