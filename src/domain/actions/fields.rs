//! The parts of a GitHub or GitLab payload that the plans read, taken from the body in one
//! pass. A pull request delivery is about 21 KB of nested objects; building all of it as a
//! `serde_json::Value` (then freeing it) was most of the worker's time. The syntax of the
//! whole body is still checked.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::domain::webhook::classify;

/// Every payload path the GitHub and GitLab plans read. A plan reading a path not listed here
/// would see it missing: the test `plans_read_only_listed_fields` compares plans over the
/// pruned document with plans over the whole one for every kind of delivery they handle.
pub const READ: &[&str] = &[
    // GitHub
    "action",
    "number",
    "ref",
    "after",
    "deleted",
    "compare",
    "head_commit.url",
    "repository.full_name",
    "repository.default_branch",
    "repository.owner.login",
    "installation.id",
    "installation.account.login",
    "repositories",
    "repositories_added",
    "repositories_removed",
    "sender.login",
    "check_run.name",
    "check_run.app.id",
    "check_run.external_id",
    "check_suite.app.id",
    "check_run.check_suite.head_sha",
    "check_run.check_suite.head_branch",
    "check_run.check_suite.pull_requests",
    "check_suite.head_sha",
    "check_suite.head_branch",
    "check_suite.pull_requests",
    "pull_request.base.ref",
    "pull_request.number",
    "pull_request.html_url",
    "pull_request.title",
    "pull_request.head.sha",
    "pull_request.head.ref",
    "pull_request.user.login",
    "pull_request.merged",
    "pull_request.merge_commit_sha",
    "merge_group.head_sha",
    "merge_group.head_ref",
    "merge_group.base_ref",
    "reason",
    // GitLab
    "object_kind",
    "project_id",
    "project.id",
    "project.path_with_namespace",
    "project.web_url",
    "user.username",
    "object_attributes.target_branch",
    "object_attributes.source_branch",
    "object_attributes.action",
    "object_attributes.iid",
    "object_attributes.url",
    "object_attributes.title",
    "object_attributes.oldrev",
    "object_attributes.merge_commit_sha",
    "object_attributes.last_commit.id",
];

#[derive(Default, Debug)]
struct Node {
    children: BTreeMap<&'static str, Node>,
}

static TREE: LazyLock<Node> = LazyLock::new(|| {
    let mut root = Node::default();
    for path in READ {
        let mut node = &mut root;
        for key in path.split('.') {
            node = node.children.entry(key).or_default();
        }
    }
    root
});

/// The listed fields of the JSON document in a body (the body itself, or GitHub's form-mode
/// `payload` field); None when the body is not JSON.
pub fn read(content_type: Option<&str>, body: &[u8]) -> Option<Value> {
    let seed = Pruned(&TREE);
    match classify::media_type(content_type).as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let payload = form_urlencoded::parse(body)
                .find(|(k, _)| k == "payload")
                .map(|(_, v)| v.into_owned())?;
            let mut de = serde_json::Deserializer::from_str(&payload);
            let v = seed.deserialize(&mut de).ok()?;
            de.end().ok().map(|()| v)
        }
        _ => {
            let mut de = serde_json::Deserializer::from_slice(body);
            let v = seed.deserialize(&mut de).ok()?;
            de.end().ok().map(|()| v)
        }
    }
}

/// Reads a value keeping only the paths below `node`: a leaf keeps its whole value, an inner
/// node keeps the listed keys of an object (and a scalar as it is; an array as null, which
/// no listed path can reach into).
struct Pruned<'n>(&'n Node);

impl<'de> DeserializeSeed<'de> for Pruned<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.0.children.is_empty() {
            return de::Deserialize::deserialize(d);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pruned<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(KeyIn(self.0))? {
            match key {
                Some((name, child)) => {
                    let value = map.next_value_seed(Pruned(child))?;
                    out.insert(name.to_string(), value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key: the listed child it names, or None for a key nobody reads.
struct KeyIn<'n>(&'n Node);

impl<'de, 'n> DeserializeSeed<'de> for KeyIn<'n> {
    type Value = Option<(&'static str, &'n Node)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'n> Visitor<'_> for KeyIn<'n> {
    type Value = Option<(&'static str, &'n Node)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<Self::Value, E> {
        Ok(self.0.children.get_key_value(key).map(|(k, n)| (*k, n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::actions::{github, gitlab};
    use serde_json::json;

    fn both(doc: &Value) -> (Value, Value) {
        let bytes = serde_json::to_vec(doc).expect("json");
        let pruned = read(Some("application/json"), &bytes).expect("pruned");
        (doc.clone(), pruned)
    }

    /// Deliveries of every kind the plans act on, with the noise real payloads carry.
    fn github_deliveries() -> Vec<(&'static str, Value)> {
        let noise = json!({"id": 1, "urls": ["a", "b"], "owner": {"login": "o", "deep": {"x": 1}}});
        let pr = |action: &str, merged: bool, base: &str| {
            json!({
                "action": action, "number": 7,
                "pull_request": {
                    "number": 7, "title": "T", "html_url": "https://github.com/octo/hello/pull/7",
                    "merged": merged, "merge_commit_sha": "f".repeat(40),
                    "user": {"login": "dev", "id": 3},
                    "head": {"sha": "e".repeat(40), "ref": "feature", "repo": noise},
                    "base": {"ref": base, "sha": "b".repeat(40), "repo": noise},
                    "_links": {"self": {"href": "x"}}, "labels": [{"name": "l"}]
                },
                "repository": {"full_name": "Octo/Hello", "default_branch": "dev", "owner": noise, "topics": ["x"]},
                "sender": noise
            })
        };
        vec![
            ("pull_request.opened", pr("opened", false, "main")),
            ("pull_request.synchronize", pr("synchronize", false, "main")),
            ("pull_request.closed", pr("closed", true, "main")),
            ("pull_request.closed", pr("closed", false, "main")),
            ("pull_request.opened", pr("opened", false, "dev")),
            ("pull_request.labeled", pr("labeled", false, "main")),
            (
                "push",
                json!({"ref": "refs/heads/main", "after": "a".repeat(40), "deleted": false,
                "compare": "https://c", "head_commit": {"url": "https://u", "id": "x"},
                "commits": [{"id": "x"}], "repository": {"full_name": "octo/hello"}}),
            ),
            (
                "push",
                json!({"ref": "refs/heads/main", "after": "0".repeat(40), "deleted": true,
                "repository": {"full_name": "octo/hello"}}),
            ),
            (
                "push",
                json!({"ref": "refs/heads/main", "after": "a".repeat(40),
                "compare": "https://c", "repository": {"full_name": "octo/other"}}),
            ),
            ("ping", json!({"zen": "z", "hook": noise})),
            (
                "merge_group",
                json!({"action": "checks_requested", "merge_group": {
                    "head_sha": "d".repeat(40), "head_ref": "refs/heads/gh-readonly-queue/dev/pr-7-bbbb",
                    "base_sha": "b".repeat(40), "base_ref": "refs/heads/dev",
                    "head_commit": {"id": "d", "message": "m", "author": noise}},
                "repository": {"full_name": "Octo/Hello", "default_branch": "dev", "owner": noise},
                "sender": {"login": "dev", "id": 3}}),
            ),
            (
                "merge_group",
                json!({"action": "destroyed", "reason": "dequeued", "merge_group": {
                    "head_sha": "d".repeat(40), "head_ref": "refs/heads/gh-readonly-queue/dev/pr-7-bbbb",
                    "base_ref": "refs/heads/dev"},
                "repository": {"full_name": "Octo/Hello", "default_branch": "dev"}}),
            ),
            (
                "check_run",
                json!({"action": "rerequested", "sender": {"login": "dev", "id": 3},
                "check_run": {"id": 1, "name": "provenant/eval", "head_sha": "e".repeat(40), "output": noise,
                    "check_suite": {"id": 2, "head_sha": "e".repeat(40), "head_branch": "feature", "app": noise,
                        "pull_requests": [{"number": 7, "base": {"ref": "main"}, "head": {"ref": "feature"}}]}},
                "repository": {"full_name": "Octo/Hello", "default_branch": "main", "owner": {"login": "Octo"}},
                "installation": {"id": 77, "node_id": "x"}}),
            ),
            (
                "check_suite",
                json!({"action": "rerequested", "check_suite": {"id": 2, "head_sha": "e".repeat(40),
                    "pull_requests": [{"number": 8, "base": {"ref": "main"}}], "app": noise},
                "repository": {"full_name": "octo/hello", "owner": {"login": "octo"}}}),
            ),
            (
                "installation",
                json!({"action": "created", "installation": {"id": 77, "account": {"login": "Octo", "id": 1}, "permissions": noise},
                "repositories": [{"id": 1, "full_name": "Octo/Hello", "private": true}], "sender": noise}),
            ),
            (
                "installation_repositories",
                json!({"action": "removed", "installation": {"id": 77, "account": {"login": "Octo"}},
                "repositories_added": [], "repositories_removed": [{"full_name": "octo/old"}]}),
            ),
            (
                "pull_request.opened",
                json!({"action": "opened", "pull_request": "not an object",
                "repository": {"full_name": "octo/hello"}}),
            ),
        ]
    }

    fn gitlab_deliveries() -> Vec<Value> {
        let attrs = |action: &str, oldrev: Option<&str>| {
            json!({
                "iid": 3, "title": "Tune", "action": action, "target_branch": "main",
                "source_branch": "tune", "url": "https://gitlab.com/grp/proj/-/merge_requests/3",
                "last_commit": {"id": "c".repeat(40), "message": "m", "author": {"name": "n"}},
                "merge_commit_sha": "f".repeat(40), "oldrev": oldrev,
                "labels": [{"id": 1}]
            })
        };
        let project = json!({"id": 42, "path_with_namespace": "grp/proj", "web_url": "https://gitlab.com/grp/proj", "namespace": "grp"});
        let mr = |action: &str, oldrev: Option<&str>| {
            json!({"object_kind": "merge_request", "project": project, "user": {"username": "dev", "id": 1},
                   "object_attributes": attrs(action, oldrev), "changes": {"title": {"previous": "a"}}})
        };
        vec![
            mr("open", None),
            mr("reopen", None),
            mr("update", Some("o")),
            mr("update", None),
            mr("merge", None),
            mr("close", None),
            json!({"object_kind": "push", "ref": "refs/heads/main", "after": "a".repeat(40),
                   "project_id": 42, "project": project, "commits": [{"id": "a"}]}),
            json!({"object_kind": "note", "project": project}),
        ]
    }

    #[test]
    fn plans_read_only_listed_fields() {
        // With patterns and no branch, the repository's own default branch is read.
        for github_config in [
            json!({"repo": "octo/hello", "branch": "main"}),
            json!({"repos": ["octo/*"]}),
        ] {
            let github_config = serde_json::from_value(github_config).expect("config");
            for (event_type, doc) in github_deliveries() {
                let (full, pruned) = both(&doc);
                assert_eq!(
                    github::plan(&github_config, event_type, &full),
                    github::plan(&github_config, event_type, &pruned),
                    "{event_type}: {doc}"
                );
            }
        }
        for config in [
            json!({"project_id": 42, "branch": "main"}),
            json!({"project_id": "grp/proj"}),
        ] {
            let config = serde_json::from_value(config).expect("config");
            for doc in gitlab_deliveries() {
                let (full, pruned) = both(&doc);
                assert_eq!(
                    gitlab::plan(&config, &full),
                    gitlab::plan(&config, &pruned),
                    "{doc}"
                );
            }
        }
    }

    #[test]
    fn only_listed_fields_are_kept_and_bad_syntax_anywhere_is_refused() {
        let doc = json!({"action": "opened", "pull_request": {"head": {"sha": "s", "repo": {"x": 1}}, "body": "long"}, "sender": {"login": "x", "id": 7}, "organization": {"login": "o"}});
        let (_, pruned) = both(&doc);
        assert_eq!(
            pruned,
            json!({"action": "opened", "pull_request": {"head": {"sha": "s"}}, "sender": {"login": "x"}})
        );
        assert_eq!(
            read(Some("application/json"), br#"{"action":"a","x":[1,}"#),
            None
        );
        assert_eq!(
            read(Some("application/json"), br#"{"action":"a"} extra"#),
            None
        );
        let form = b"payload=%7B%22action%22%3A%22opened%22%2C%22x%22%3A1%7D";
        assert_eq!(
            read(Some("application/x-www-form-urlencoded"), form),
            Some(json!({"action": "opened"}))
        );
    }
}
