//! Strings with a format: each type carries its pattern once, and the same pattern is both
//! what the OpenAPI spec declares and what the server checks, so the spec never allows a value
//! the server refuses, nor the reverse.
//!
//! Patterns are written for both dialects that read them: ECMA/Python (spec readers and
//! schema-driven clients) and Rust's `regex` (the server). They use explicit ASCII classes,
//! never `\s`, `\d` or `\w`, whose meaning differs between the two. A final `$` matches before
//! one trailing newline in ECMA/Python as in JSON Schema validators, so it does here too, and
//! that newline is dropped from the stored value.

use std::borrow::Cow;
use std::sync::LazyLock;

use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{
    ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type,
};
use regex::Regex;
use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Compiles a spec pattern for Rust with the JSON Schema meaning of a final `$`.
pub fn compile(pattern: &str) -> Regex {
    let rust = match pattern.strip_suffix('$') {
        Some(body) => format!("{body}\\n?\\z"),
        None => pattern.to_string(),
    };
    Regex::new(&rust).expect("a valid built-in pattern")
}

/// A value accepted by `pattern` (unanchored, as JSON Schema reads it) within `max` characters.
pub fn accepts(re: &Regex, max: usize, value: &str) -> bool {
    value.chars().count() <= max && re.is_match(value)
}

macro_rules! checked_string {
    (
        $(#[doc = $doc:literal])*
        $name:ident {
            pattern: $pattern:literal,
            max: $max:expr,
            example: $example:literal,
            hint: $hint:literal $(,)?
        }
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub const PATTERN: &'static str = $pattern;
            pub const MAX_CHARS: usize = $max;
            pub const HINT: &'static str = $hint;
            /// The example the spec publishes: never a real value.
            pub const EXAMPLE: &'static str = $example;

            /// The value when it has the format, without the newline a final `$` lets through.
            pub fn parse(value: &str) -> Option<Self> {
                static RE: LazyLock<Regex> = LazyLock::new(|| compile($pattern));
                accepts(&RE, $max, value)
                    .then(|| $name(value.strip_suffix('\n').unwrap_or(value).to_string()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// A value read back from storage in a form only the server writes (a sealed
            /// credential, `credentials::SEALED_PREFIX`): taken as it is.
            #[allow(dead_code)]
            pub(crate) fn stored(value: String) -> Self {
                $name(value)
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text).ok_or_else(|| D::Error::custom($hint))
            }
        }

        impl Type for $name {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                "string".into()
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    description: Some(concat!($($doc, "\n"),*).trim_ascii()).filter(|d| !d.is_empty()),
                    pattern: Some($pattern.to_string()),
                    max_length: Some($max),
                    min_length: Some(1),
                    example: Some(Value::String($example.to_string())),
                    ..MetaSchema::new("string")
                }))
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromJSON for $name {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                match value {
                    Some(Value::String(s)) => {
                        $name::parse(&s).ok_or_else(|| ParseError::custom($hint))
                    }
                    other => Err(ParseError::expected_type(other.unwrap_or_default())),
                }
            }
        }

        impl ToJSON for $name {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.0.clone()))
            }
        }

        impl ParseFromParameter for $name {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                $name::parse(value).ok_or_else(|| ParseError::custom($hint))
            }
        }
    };
}

checked_string! {
    /// A friendly label: 1–200 characters, not only blanks.
    Name {
        pattern: "[^ \t\r\n]",
        max: 200,
        example: "Main GitHub Repo",
        hint: "must be 1–200 characters and not only blanks",
    }
}

checked_string! {
    /// `owner/name`, e.g. `my-org/my-agent-repo`. Letters, digits, `_`, `.` and `-`; neither
    /// part only dots (GitHub allows no such name, and it would read as a step in a path).
    RepoSlug {
        pattern: "^[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*/[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*$",
        max: 200,
        example: "my-org/my-agent-repo",
        hint: "must be `owner/name`, e.g. my-org/my-agent-repo",
    }
}

checked_string! {
    /// Repositories a GITHUB integration takes: `owner/name`, where `*` stands for any run of
    /// characters within a part (`my-org/*`, `other-org/agent-*`), and a leading `!` excludes
    /// (`!my-org/sandbox`).
    RepoPattern {
        pattern: "^!?[A-Za-z0-9_.*-]+/[A-Za-z0-9_.*-]+$",
        max: 201,
        example: "my-org/*",
        hint: "must be `owner/name`, with `*` for any characters within a part and a leading `!` to exclude, e.g. my-org/* or !my-org/sandbox",
    }
}

/// A pattern of repositories or projects; `!` makes it exclude what it matches.
pub trait NamePattern: std::fmt::Display {
    fn excludes(&self) -> bool;
    fn matches(&self, name: &str) -> bool;
}

/// What a list of patterns says of `name`: the last pattern that matches decides. `Ok` with
/// why, `Err` with why not; `what` is "repository" or "project", `key` the config's key.
pub fn decide<P: NamePattern>(
    what: &str,
    key: &str,
    name: &str,
    patterns: &[P],
) -> Result<String, String> {
    match patterns.iter().rev().find(|p| p.matches(name)) {
        Some(p) if p.excludes() => Err(format!("{what} `{name}` is excluded by `{p}`")),
        Some(p) => Ok(format!("{what} `{name}` is admitted by `{p}`")),
        None => Err(format!(
            "{what} `{name}` matches none of {key} ({})",
            patterns
                .iter()
                .map(|p| format!("`{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

impl NamePattern for RepoPattern {
    fn excludes(&self) -> bool {
        self.0.starts_with('!')
    }

    /// Whether `repo` (`owner/name`) matches, ignoring case as GitHub does.
    fn matches(&self, repo: &str) -> bool {
        let pattern = self.0.trim_start_matches('!').to_ascii_lowercase();
        let repo = repo.to_ascii_lowercase();
        match (pattern.split_once('/'), repo.split_once('/')) {
            (Some((po, pn)), Some((ro, rn))) => glob(po, ro) && glob(pn, rn),
            _ => false,
        }
    }
}

checked_string! {
    /// A GitLab group: its numeric id as text (`"1234"`) or its path (`my-group`,
    /// `my-group/subgroup`). No part only dots.
    GroupRef {
        pattern: "^([0-9]+|[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*)*)$",
        max: 255,
        example: "my-group",
        hint: "must be a group's numeric id (as text) or its path, e.g. my-group or my-group/subgroup",
    }
}

impl GroupRef {
    /// As written in API paths: `1234` or `my-group%2Fsubgroup`.
    pub fn url_segment(&self) -> String {
        form_urlencoded::byte_serialize(self.0.as_bytes()).collect()
    }

    /// The path, when the group is named by one (not by its id).
    pub fn path(&self) -> Option<&str> {
        (!self.0.bytes().all(|b| b.is_ascii_digit())).then_some(self.0.as_str())
    }
}

checked_string! {
    /// Projects a GITLAB group integration takes, by path: `*` stands for any run of
    /// characters within a part, a part `**` for any number of parts (subgroups), and a
    /// leading `!` excludes: `my-group/*`, `my-group/**`, `!my-group/sandbox`.
    ProjectPattern {
        pattern: "^!?[A-Za-z0-9_.*-]+(/[A-Za-z0-9_.*-]+)+$",
        max: 256,
        example: "my-group/agent-*",
        hint: "must be a project path pattern such as my-group/*, my-group/** or !my-group/sandbox",
    }
}

impl NamePattern for ProjectPattern {
    fn excludes(&self) -> bool {
        self.0.starts_with('!')
    }

    /// Whether the project path `project` matches, ignoring case as GitLab does.
    fn matches(&self, project: &str) -> bool {
        let pattern = self.0.trim_start_matches('!').to_ascii_lowercase();
        let project = project.to_ascii_lowercase();
        let pattern: Vec<&str> = pattern.split('/').collect();
        let parts: Vec<&str> = project.split('/').collect();
        parts_match(&pattern, &parts)
    }
}

/// Part by part; `**` takes one or more parts.
fn parts_match(pattern: &[&str], parts: &[&str]) -> bool {
    match (pattern.split_first(), parts.split_first()) {
        (None, None) => true,
        (Some((&"**", rest)), Some(_)) => {
            (1..=parts.len()).any(|taken| parts_match(rest, &parts[taken..]))
        }
        (Some((p, rest)), Some((part, others))) => glob(p, part) && parts_match(rest, others),
        _ => false,
    }
}

/// `*` matches any run of characters (none included); everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

checked_string! {
    /// A branch name, e.g. `main`.
    Branch {
        // Not only blanks: the rule configs were saved under before, so every stored config
        // still reads.
        pattern: "[^ \t\r\n]",
        max: 255,
        example: "main",
        hint: "must be a branch name, e.g. main",
    }
}

checked_string! {
    /// An absolute http(s) URL.
    HttpUrl {
        pattern: "^https?://[^ \t\r\n/?#]+[^ \t\r\n]*$",
        max: 2048,
        example: "https://github.example.com/api/v3",
        hint: "must be an absolute http(s) URL",
    }
}

checked_string! {
    /// An API's or a site's base URL: `http(s)://host[:port]` and an optional path prefix,
    /// e.g. `https://github.example.com/api/v3`. No query, fragment, `user:password@`,
    /// percent-encoding or `.`/`..` segment: every call's path is put after it, and nothing in
    /// it may turn a call into a call to another endpoint.
    BaseUrl {
        pattern: "^https?://([A-Za-z0-9-]{1,63}([.][A-Za-z0-9-]{1,63})*|\\[[0-9A-Fa-f:.]{2,45}\\])(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(/([A-Za-z0-9_~-][A-Za-z0-9._~-]*|[.][A-Za-z0-9_~-][A-Za-z0-9._~-]*))*/?$",
        max: 2048,
        example: "https://github.example.com/api/v3",
        hint: "must be a base URL: http(s)://host[:port] and an optional path such as /api/v3, without a query, fragment, user:password@, percent-encoding or . and .. segments",
    }
}

checked_string! {
    /// An absolute http(s) URL, or a reference to a stored secret holding one: `${secret:NAME}`.
    UrlOrSecretRef {
        pattern: "^(https?://[^ \t\r\n/?#]+[^ \t\r\n]*|[$][{]secret:[A-Z0-9_]{1,64}[}])$",
        max: 2048,
        example: "https://hooks.slack.com/services/T000/B000/XXXX",
        hint: "must be an absolute http(s) URL, e.g. https://hooks.slack.com/services/…, or ${secret:NAME}",
    }
}

/// `drift.*` matches `drift.critical`; anything else must match exactly.
pub fn pattern_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

checked_string! {
    /// An event type, or a prefix ending in `*`: `drift.critical`, `violation.*`, `*`.
    EventPattern {
        pattern: "[^ \t\r\n]",
        max: 200,
        example: "drift.critical",
        hint: "must be an event type or a prefix ending in *, e.g. drift.critical or violation.*",
    }
}

checked_string! {
    /// An API host a credential may be sent to: `host` or `host:port`, e.g.
    /// `github.example.com` or `gitlab.internal:8443` (an IPv6 address in brackets).
    ApiHost {
        pattern: "^([A-Za-z0-9.-]{1,253}|\\[[0-9A-Fa-f:]{2,45}\\])(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?$",
        max: 261,
        example: "github.example.com",
        hint: "must be a host or host:port, e.g. github.example.com",
    }
}

checked_string! {
    /// Where a credential may be sent: a host (`github.example.com`, `gitlab.internal:8443`),
    /// which means https, or an origin (`https://ghe.corp:8443`, or `http://ghe.lab:8080` to
    /// allow plain http to exactly that host, for a test stand-in or a lab).
    ApiOrigin {
        pattern: "^(https?://)?([A-Za-z0-9.-]{1,253}|\\[[0-9A-Fa-f:]{2,45}\\])(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?$",
        max: 269,
        example: "github.example.com",
        hint: "must be a host, host:port or an origin such as https://ghe.example:8443 (http://… allows plain http to that origin)",
    }
}

checked_string! {
    /// A secret's name: 1–64 characters of A–Z, 0–9 and `_`.
    SecretName {
        pattern: "^[A-Z0-9_]{1,64}$",
        max: 64,
        example: "GITHUB_TOKEN",
        hint: "must be 1–64 characters of A–Z, 0–9 and _",
    }
}

checked_string! {
    /// An id: a UUID, as every id this API hands out.
    Id {
        pattern: "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
        max: 36,
        example: "3f2b8c1e-5d4a-4f6b-9c2d-1e0f7a8b9c0d",
        hint: "must be an id (a UUID) from this API",
    }
}

checked_string! {
    /// `nextCursor` from the previous page.
    Cursor {
        pattern: "^[0-9]{1,18}([.][0-9a-f-]{1,36})?$",
        max: 55,
        example: "1795161600000",
        hint: "must be a nextCursor from this API",
    }
}

/// A GitLab project: its numeric id, or its `group/project` path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectId {
    Number(u64),
    Path(String),
}

impl ProjectId {
    // No part only dots: GitLab allows no such path, and it would read as a step in a path.
    const PATTERN: &'static str = "^([0-9]+|[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_.-]*[A-Za-z0-9_-][A-Za-z0-9_.-]*)+)$";
    const HINT: &'static str = "must be a numeric project id or a `group/project` path";

    fn parse(value: &Value) -> Option<ProjectId> {
        static RE: LazyLock<Regex> = LazyLock::new(|| compile(ProjectId::PATTERN));
        match value {
            Value::Number(n) => n
                .as_u64()
                .filter(|n| (1..=i64::MAX as u64).contains(n))
                .map(ProjectId::Number),
            Value::String(s) if accepts(&RE, 255, s) => {
                let s = s.strip_suffix('\n').unwrap_or(s);
                Some(match s.parse::<u64>() {
                    Ok(n) if s.bytes().all(|b| b.is_ascii_digit()) => ProjectId::Number(n),
                    _ => ProjectId::Path(s.to_string()),
                })
            }
            _ => None,
        }
    }

    /// As written in API paths: `42` or `group%2Fproject`.
    pub fn url_segment(&self) -> String {
        match self {
            ProjectId::Number(n) => n.to_string(),
            ProjectId::Path(p) => form_urlencoded::byte_serialize(p.as_bytes()).collect(),
        }
    }
}

impl std::fmt::Display for ProjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProjectId::Number(n) => write!(f, "{n}"),
            ProjectId::Path(p) => f.write_str(p),
        }
    }
}

impl<'de> Deserialize<'de> for ProjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        ProjectId::parse(&value).ok_or_else(|| D::Error::custom(ProjectId::HINT))
    }
}

impl Type for ProjectId {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "ProjectId".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("The numeric project id, or the `group/project` path."),
            any_of: vec![
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    minimum: Some(1.0),
                    maximum: Some(i64::MAX as f64),
                    example: Some(Value::from(12345)),
                    ..MetaSchema::new_with_format("integer", "int64")
                })),
                MetaSchemaRef::Inline(Box::new(MetaSchema {
                    pattern: Some(ProjectId::PATTERN.to_string()),
                    max_length: Some(255),
                    example: Some(Value::from("my-group/my-agent-repo")),
                    ..MetaSchema::new("string")
                })),
            ],
            ..MetaSchema::ANY
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for ProjectId {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        ProjectId::parse(&value.unwrap_or_default()).ok_or_else(|| ParseError::custom(Self::HINT))
    }
}

impl ToJSON for ProjectId {
    fn to_json(&self) -> Option<Value> {
        Some(match self {
            ProjectId::Number(n) => Value::from(*n),
            ProjectId::Path(p) => Value::from(p.as_str()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repo_patterns_match_within_a_part_ignoring_case() {
        let p = |s: &str| RepoPattern::parse(s).expect(s);
        assert!(p("my-org/*").matches("My-Org/anything"));
        assert!(!p("my-org/*").matches("other/anything"));
        assert!(p("*/agent-*").matches("x/agent-7"));
        assert!(!p("*/agent-*").matches("x/agents"));
        assert!(p("a/*-x-*").matches("a/1-x-2"));
        assert!(!p("a/*-x-*").matches("a/1-x"));
        assert!(p("a/b").matches("A/B") && !p("a/b").matches("a/bc"));
        assert!(p("a/b*b").matches("a/bb") && !p("a/b*b").matches("a/b"));
        assert!(p("!a/b").excludes() && p("!a/b").matches("a/b"));
        for bad in ["a", "a/b/c", "!/b", "a b/c", "!!a/b", "a/"] {
            assert!(RepoPattern::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn a_final_dollar_allows_one_trailing_newline_as_json_schema_does() {
        assert_eq!(
            RepoSlug::parse("octo/hello\n").map(RepoSlug::into_string),
            Some("octo/hello".into())
        );
        assert!(RepoSlug::parse("octo/hello\n\n").is_none());
        assert!(RepoSlug::parse(" octo/hello").is_none());
    }

    #[test]
    fn formats_are_checked() {
        for bad in [
            "repo", "a/b/c", "/b", "a b/c", "", "a/..", "../b", "./b", "a/...",
        ] {
            assert!(RepoSlug::parse(bad).is_none(), "{bad}");
        }
        assert!(RepoSlug::parse("octo/.github").is_some());
        assert!(RepoSlug::parse("octo/hello.js").is_some());
        assert!(Name::parse("   ").is_none());
        assert!(Name::parse(&"x".repeat(201)).is_none());
        assert!(Name::parse(" ok ").is_some());
        assert!(UrlOrSecretRef::parse("https://hooks.slack.com/services/T/B/x").is_some());
        assert!(UrlOrSecretRef::parse("${secret:SLACK_URL}").is_some());
        assert!(UrlOrSecretRef::parse("${secret:slack}").is_none());
        assert!(UrlOrSecretRef::parse("hooks.slack.com").is_none());
        assert!(HttpUrl::parse("https://").is_none());
        for good in [
            "https://api.github.com",
            "https://ghe.example/api/v3/",
            "http://127.0.0.1:4555",
            "https://[::1]:8443/api/v4",
            "https://gitlab.example.com/.well/x_y~z",
        ] {
            assert!(BaseUrl::parse(good).is_some(), "{good}");
        }
        for bad in [
            "https://ghe.example/api/v3/admin/keys?x=",
            "https://ghe.example/api#frag",
            "https://user:pw@ghe.example/api",
            "https://ghe.example/api/../admin",
            "https://ghe.example/./api",
            "https://ghe.example/api%2Fv3",
            "https://ghe.example//api",
            "ftp://ghe.example",
            "https://ghe.example:99999",
            "https://ghe example",
        ] {
            assert!(BaseUrl::parse(bad).is_none(), "{bad}");
        }
        assert!(HttpUrl::parse("ftp://x").is_none());
    }

    #[test]
    fn project_patterns_match_part_by_part_and_double_stars_take_subgroups() {
        let p = |s: &str| ProjectPattern::parse(s).expect(s);
        assert!(p("grp/*").matches("GRP/agent"));
        assert!(!p("grp/*").matches("grp/sub/agent"));
        assert!(p("grp/**").matches("grp/sub/agent"));
        assert!(p("grp/**").matches("grp/agent"));
        assert!(!p("grp/**").matches("grp"));
        assert!(p("grp/**/agent-*").matches("grp/a/b/agent-1"));
        assert!(p("!grp/sandbox").excludes());
        for bad in ["grp", "/grp/x", "grp//x", "grp/x y"] {
            assert!(ProjectPattern::parse(bad).is_none(), "{bad}");
        }
        assert_eq!(GroupRef::parse("1234").expect("id").path(), None);
        assert_eq!(
            GroupRef::parse("my-group/sub").expect("path").url_segment(),
            "my-group%2Fsub"
        );
        assert!(GroupRef::parse("..").is_none());
    }

    #[test]
    fn gitlab_project_ids_are_numbers_or_paths() {
        for ok in [json!(12345), json!("12345"), json!("group/sub/project")] {
            assert!(ProjectId::parse(&ok).is_some(), "{ok}");
        }
        for bad in [
            json!(""),
            json!("nogroup"),
            json!("group/.."),
            json!("../project"),
            json!(-1),
            json!(0),
            json!(true),
        ] {
            assert!(ProjectId::parse(&bad).is_none(), "{bad}");
        }
        assert_eq!(
            ProjectId::parse(&json!("group/sub")).map(|p| p.to_string()),
            Some("group/sub".into())
        );
    }
}

/// A time given as RFC 3339 (`2026-11-28T09:00:00Z`), held as Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const HINT: &'static str = "must be an RFC 3339 time, e.g. 2026-11-28T09:00:00Z";

    pub fn parse(text: &str) -> Option<Timestamp> {
        let at = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?;
        i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
            .ok()
            .map(Timestamp)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).ok_or_else(|| D::Error::custom(Timestamp::HINT))
    }
}

impl Type for Timestamp {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "string(date-time)".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            example: Some(Value::from("2026-11-28T09:00:00Z")),
            ..MetaSchema::new_with_format("string", "date-time")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(std::iter::once(self))
    }
}

impl ParseFromJSON for Timestamp {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => {
                Timestamp::parse(&s).ok_or_else(|| ParseError::custom(Timestamp::HINT))
            }
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

/// A time in a query (`since=2026-11-28T09:00:00Z`).
impl poem_openapi::types::ParseFromParameter for Timestamp {
    fn parse_from_parameter(value: &str) -> ParseResult<Self> {
        Timestamp::parse(value).ok_or_else(|| ParseError::custom(Timestamp::HINT))
    }
}

impl ToJSON for Timestamp {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(crate::base::clock::rfc3339(self.0)))
    }
}
