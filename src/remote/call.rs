//! What an outbox row asks of a forge's API, typed: the method, the path under the API base,
//! the body, the repository it is about and who asks. Stored as the row's `request` JSON
//! (`{"method", "path", "body", "repo", "as"}`: rows queued by earlier versions read the same),
//! made where the row is queued and read back, once, where it is sent.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
    Patch,
    Put,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Put => "PUT",
        }
    }
}

/// Whose credential a call is sent with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Acting {
    /// The integration's: its token, or its GitHub App's installation for the repository.
    #[default]
    Integration,
    /// The GitHub App itself, with its JWT (its own delivery log).
    App,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiCall {
    pub method: Method,
    /// Under the API base, each segment already encoded (`/repos/o/r/statuses/…`). May hold a
    /// placeholder for an id a previous row's answer gives (`{check_run_id}`).
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The repository it is about (`owner/name`, a GitLab project path): who to
    /// authenticate as, for a GitHub App.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, rename = "as", skip_serializing_if = "is_integration")]
    pub acting: Acting,
}

fn is_integration(acting: &Acting) -> bool {
    *acting == Acting::Integration
}

impl ApiCall {
    pub fn new(method: Method, path: String) -> ApiCall {
        ApiCall {
            method,
            path,
            body: None,
            repo: None,
            acting: Acting::Integration,
        }
    }

    pub fn with_body(mut self, body: Value) -> ApiCall {
        self.body = (!body.is_null()).then_some(body);
        self
    }

    pub fn about(mut self, repo: Option<&str>) -> ApiCall {
        self.repo = repo.map(str::to_string);
        self
    }

    pub fn acting(mut self, acting: Acting) -> ApiCall {
        self.acting = acting;
        self
    }

    /// The row's `request`.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// A row's `request` read back; what no version ever stored is an error to show.
    pub fn from_json(request: &Value) -> Result<ApiCall, String> {
        serde_json::from_value(request.clone())
            .map_err(|e| format!("the row's request cannot be read: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rows_queued_before_reads_the_same() {
        let old = json!({"method": "POST", "path": "/repos/o/r/statuses/abc", "body": {"state": "pending"}, "repo": "o/r"});
        let call = ApiCall::from_json(&old).expect("reads");
        assert_eq!(call.method, Method::Post);
        assert_eq!(call.acting, Acting::Integration);
        assert_eq!(call.to_json(), old);
        let null_body = json!({"method": "GET", "path": "", "body": null});
        assert_eq!(ApiCall::from_json(&null_body).expect("reads").body, None);
        let app = ApiCall::new(Method::Post, "/app/hook/deliveries/1/attempts".into())
            .acting(Acting::App);
        assert_eq!(app.to_json()["as"], "app");
        assert!(ApiCall::from_json(&json!({"method": "DELETE", "path": "/"})).is_err());
    }
}
