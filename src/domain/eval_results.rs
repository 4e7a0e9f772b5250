//! An eval run's results as its runner reports them (a score, metrics, cases), bounded and
//! checked; compared with a baseline run's; and said where people look: a commit status's one
//! line, a Markdown table for a check run or a pull request comment, and a check run's
//! annotations. Everything here came from a runner, which was given a pull request's code:
//! it is untrusted text, escaped wherever it is shown.

use poem_openapi::Object;
use serde::{Deserialize, Serialize};

use crate::base::error::{AppError, AppResult};

/// At most this many metrics a run.
pub const MAX_METRICS: usize = 50;
/// At most this many cases a run.
pub const MAX_CASES: usize = 1_000;
/// A case's message, at most (bytes).
pub const MAX_MESSAGE_BYTES: usize = 1_024;
/// A metric's or case's name, at most (characters).
pub const MAX_NAME_CHARS: usize = 200;
/// A metric's unit, at most (characters).
pub const MAX_UNIT_CHARS: usize = 20;
/// A case's file path, at most (characters).
pub const MAX_PATH_CHARS: usize = 1_000;
/// GitHub takes at most this many annotations in one check run request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;
/// A commit status's description, at most (characters; GitHub's limit).
pub const MAX_DESCRIPTION_CHARS: usize = 140;
/// Failing cases listed in a table, at most; the rest are counted.
const LISTED_FAILURES: usize = 50;
/// A Markdown report, at most (characters): under GitHub's 65,535 for a check run's summary
/// and a comment's body.
const MAX_REPORT_CHARS: usize = 60_000;

/// One measured value of an eval run, e.g. `accuracy` 0.93.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Metric {
    /// Its name, unique in the run (1 to 200 characters); compared with the baseline's
    /// metric of the same name.
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// The measured value.
    pub value: f64,
    /// Its unit, shown after the value (`ms`, `%`), at most 20 characters.
    #[oai(validator(max_length = 20))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// Whether a larger value is better (default true); false for a latency or a cost.
    #[oai(default = "yes")]
    #[serde(default = "yes")]
    pub higher_is_better: bool,
    /// The value it must reach to pass: at least this, or at most when lower is better.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
}

fn yes() -> bool {
    true
}

/// One evaluated case of an eval run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Object)]
#[serde(rename_all = "camelCase")]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none)]
pub struct Case {
    /// Its name (1 to 200 characters).
    #[oai(validator(min_length = 1, max_length = 200))]
    pub name: String,
    /// Whether it passed; failing cases are listed on the pull request.
    pub passed: bool,
    /// Its score, from 0 to 1.
    #[oai(validator(minimum(value = "0"), maximum(value = "1")))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// What went wrong, at most 1 KB.
    #[oai(validator(max_length = 1024))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A file of the repository the case is about, relative to its root; with `line`, a
    /// failing case becomes an annotation on the check run.
    #[oai(validator(max_length = 1000))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The line of `path` (from 1).
    #[oai(validator(minimum(value = "1")))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

/// What a run measured: the overall score, its metrics and its cases (kept as one JSON
/// value with the run).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Results {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub cases: Vec<Case>,
}

fn invalid<T>(field: String, message: impl Into<String>) -> AppResult<T> {
    Err(AppError::invalid(field, message))
}

fn check_name(field: String, name: &str) -> AppResult<()> {
    let chars = name.chars().count();
    if name.trim().is_empty() || chars > MAX_NAME_CHARS {
        return invalid(field, format!("1 to {MAX_NAME_CHARS} characters"));
    }
    Ok(())
}

fn check_number(field: String, value: f64) -> AppResult<()> {
    if !value.is_finite() {
        return invalid(field, "must be a finite number");
    }
    Ok(())
}

fn check_fraction(field: String, value: f64) -> AppResult<()> {
    if !(0.0..=1.0).contains(&value) {
        return invalid(field, "must be from 0 to 1");
    }
    Ok(())
}

impl Results {
    /// Refuses what is out of bounds, naming the field (`metrics[3].name`): more than 50
    /// metrics or 1,000 cases, a score outside 0–1, a number that is not finite, two metrics
    /// of one name, a message over 1 KB, a `line` without a `path` or below 1.
    pub fn check(&self) -> AppResult<()> {
        if let Some(score) = self.score {
            check_fraction("score".into(), score)?;
        }
        if self.metrics.len() > MAX_METRICS {
            return invalid("metrics".into(), format!("at most {MAX_METRICS} metrics"));
        }
        if self.cases.len() > MAX_CASES {
            return invalid("cases".into(), format!("at most {MAX_CASES} cases"));
        }
        let mut names = std::collections::HashSet::new();
        for (i, m) in self.metrics.iter().enumerate() {
            check_name(format!("metrics[{i}].name"), &m.name)?;
            if !names.insert(m.name.as_str()) {
                return invalid(format!("metrics[{i}].name"), "two metrics have this name");
            }
            check_number(format!("metrics[{i}].value"), m.value)?;
            if let Some(t) = m.threshold {
                check_number(format!("metrics[{i}].threshold"), t)?;
            }
            if m.unit
                .as_ref()
                .is_some_and(|u| u.chars().count() > MAX_UNIT_CHARS)
            {
                return invalid(
                    format!("metrics[{i}].unit"),
                    format!("at most {MAX_UNIT_CHARS} characters"),
                );
            }
        }
        for (i, c) in self.cases.iter().enumerate() {
            check_name(format!("cases[{i}].name"), &c.name)?;
            if let Some(score) = c.score {
                check_fraction(format!("cases[{i}].score"), score)?;
            }
            if c.message
                .as_ref()
                .is_some_and(|m| m.len() > MAX_MESSAGE_BYTES)
            {
                return invalid(
                    format!("cases[{i}].message"),
                    format!("at most {MAX_MESSAGE_BYTES} bytes"),
                );
            }
            if let Some(path) = &c.path {
                let bad = path.is_empty()
                    || path.chars().count() > MAX_PATH_CHARS
                    || path.starts_with('/')
                    || path.chars().any(char::is_control)
                    || path.split('/').any(|part| part == "..");
                if bad {
                    return invalid(
                        format!("cases[{i}].path"),
                        "a file in the repository, relative to its root (no `..`)",
                    );
                }
            }
            match (c.line, &c.path) {
                (Some(0), _) => return invalid(format!("cases[{i}].line"), "lines start at 1"),
                (Some(_), None) => {
                    return invalid(format!("cases[{i}].line"), "needs a `path`");
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Cases that passed, and all cases.
    pub fn passed(&self) -> (usize, usize) {
        let passed = self.cases.iter().filter(|c| c.passed).count();
        (passed, self.cases.len())
    }

    fn metric(&self, name: &str) -> Option<&Metric> {
        self.metrics.iter().find(|m| m.name == name)
    }
}

/// A metric beside the baseline's value of the same name.
#[derive(Debug, Clone, PartialEq)]
pub struct Compared<'a> {
    pub metric: &'a Metric,
    pub baseline: Option<f64>,
    /// `value − baseline`, when there is a baseline value.
    pub delta: Option<f64>,
    /// Whether it reaches its threshold; None without one.
    pub passed: Option<bool>,
}

/// Each metric of `results`, in its order, with the baseline's value and its threshold's verdict.
pub fn compare<'a>(results: &'a Results, baseline: Option<&Results>) -> Vec<Compared<'a>> {
    results
        .metrics
        .iter()
        .map(|metric| {
            let base = baseline
                .and_then(|b| b.metric(&metric.name))
                .map(|m| m.value);
            Compared {
                metric,
                baseline: base,
                delta: base.map(|b| metric.value - b),
                passed: metric.threshold.map(|t| {
                    if metric.higher_is_better {
                        metric.value >= t
                    } else {
                        metric.value <= t
                    }
                }),
            }
        })
        .collect()
}

/// A number as people read it: at most three decimals, without trailing zeros.
pub fn number(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    match text {
        "-0" | "" => "0".into(),
        t => t.into(),
    }
}

/// A change as people read it: `+0.02`, `-1.5`, `±0`.
pub fn signed(delta: f64) -> String {
    match number(delta).as_str() {
        "0" => "±0".into(),
        t if t.starts_with('-') => t.into(),
        t => format!("+{t}"),
    }
}

/// The one line a commit status says (at most 140 characters), e.g.
/// `87/90 passed · accuracy 0.93 (+0.02)`: the cases, then the score, then the first metric,
/// each with its change from the baseline when there is one. Plain text: GitHub and GitLab
/// show it as is.
pub fn one_line(results: &Results, baseline: Option<&Results>) -> Option<String> {
    let mut parts = vec![];
    let (passed, total) = results.passed();
    if total > 0 {
        parts.push(format!("{passed}/{total} passed"));
    }
    if let Some(score) = results.score {
        let change = baseline
            .and_then(|b| b.score)
            .map(|b| format!(" ({})", signed(score - b)))
            .unwrap_or_default();
        parts.push(format!("score {}{change}", number(score)));
    }
    if let Some(first) = compare(results, baseline).first() {
        let change = first
            .delta
            .map(|d| format!(" ({})", signed(d)))
            .unwrap_or_default();
        let name: String = plain(&first.metric.name).chars().take(40).collect();
        parts.push(format!("{name} {}{change}", number(first.metric.value)));
    }
    if parts.is_empty() {
        return None;
    }
    Some(cut(&parts.join(" · "), MAX_DESCRIPTION_CHARS))
}

/// `text` on one line, without control characters.
fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// `text` cut to `max` characters, with `…` where it was cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Untrusted text for a Markdown table cell or line: one line, Markdown and HTML taken
/// literally, and `@name` kept from pinging anyone.
pub fn markdown_text(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    for c in plain(text).chars().take(max_chars) {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '#' | '!' | '~' | '&' | '('
            | ')' => {
                out.push('\\');
                out.push(c);
            }
            // A zero-width space after `@` keeps it from being a mention.
            '@' => out.push_str("@\u{200b}"),
            c => out.push(c),
        }
    }
    out
}

/// A run's results as a reader needs them: the metrics table against the baseline, and the
/// failing cases.
pub struct Report<'a> {
    pub results: &'a Results,
    pub baseline: Option<&'a Results>,
    /// How to name the baseline in a sentence, e.g. "run `ev_…` of #12 at `abc1234`".
    pub baseline_named: Option<String>,
    /// The run's page in this server.
    pub link: Option<&'a str>,
}

impl Report<'_> {
    /// Markdown: the table (value, baseline, change, threshold, ✔/✘), then the failing cases
    /// (at most 50 listed), then where the baseline came from and the run's page.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        if let Some(line) = one_line(self.results, self.baseline) {
            out.push_str(&format!("**{}**\n\n", markdown_text(&line, 200)));
        }
        let compared = compare(self.results, self.baseline);
        if !compared.is_empty() {
            out.push_str("| Metric | Value | Baseline | Change | Threshold | |\n");
            out.push_str("|---|---:|---:|---:|---:|:-:|\n");
            for c in &compared {
                let unit = c
                    .metric
                    .unit
                    .as_deref()
                    .map(|u| format!(" {}", markdown_text(u, MAX_UNIT_CHARS)))
                    .unwrap_or_default();
                let threshold = c
                    .metric
                    .threshold
                    .map(|t| {
                        let sign = if c.metric.higher_is_better {
                            "≥"
                        } else {
                            "≤"
                        };
                        format!("{sign} {}", number(t))
                    })
                    .unwrap_or_else(|| "–".into());
                let verdict = match c.passed {
                    Some(true) => "✔",
                    Some(false) => "✘",
                    None => "",
                };
                out.push_str(&format!(
                    "| {} | {}{unit} | {} | {} | {threshold} | {verdict} |\n",
                    markdown_text(&c.metric.name, MAX_NAME_CHARS),
                    number(c.metric.value),
                    c.baseline.map(number).unwrap_or_else(|| "–".into()),
                    c.delta.map(signed).unwrap_or_else(|| "–".into()),
                ));
            }
            out.push('\n');
        }
        let failing: Vec<&Case> = self.results.cases.iter().filter(|c| !c.passed).collect();
        if !failing.is_empty() {
            out.push_str(&format!(
                "**Failing cases** ({} of {})\n\n",
                failing.len(),
                self.results.cases.len()
            ));
            out.push_str("| Case | Score | Where | Message |\n|---|---:|---|---|\n");
            for case in failing.iter().take(LISTED_FAILURES) {
                let place = match (&case.path, case.line) {
                    (Some(path), Some(line)) => format!("{}:{line}", markdown_text(path, 200)),
                    (Some(path), None) => markdown_text(path, 200),
                    _ => String::new(),
                };
                out.push_str(&format!(
                    "| {} | {} | {place} | {} |\n",
                    markdown_text(&case.name, MAX_NAME_CHARS),
                    case.score.map(number).unwrap_or_default(),
                    markdown_text(case.message.as_deref().unwrap_or(""), 300),
                ));
            }
            if failing.len() > LISTED_FAILURES {
                out.push_str(&format!(
                    "\n…and {} more.\n",
                    failing.len() - LISTED_FAILURES
                ));
            }
            out.push('\n');
        }
        match &self.baseline_named {
            Some(named) => out.push_str(&format!("Baseline: {named}.")),
            None => out.push_str("No baseline yet: no earlier run on the base branch succeeded."),
        }
        if let Some(link) = self.link {
            out.push_str(&format!(" [The run in Provenant]({link})"));
        }
        out.push('\n');
        cut(&out, MAX_REPORT_CHARS)
    }
}

/// A check run's annotations for the failing cases that name a `path` and `line`, in
/// requests of at most 50 (GitHub's limit).
pub fn annotation_batches(results: &Results) -> Vec<Vec<serde_json::Value>> {
    let annotations: Vec<serde_json::Value> = results
        .cases
        .iter()
        .filter(|c| !c.passed)
        .filter_map(|c| {
            let (path, line) = (c.path.as_ref()?, c.line?);
            Some(serde_json::json!({
                "path": path,
                "start_line": line,
                "end_line": line,
                "annotation_level": "failure",
                "title": cut(&plain(&c.name), 255),
                "message": c.message.as_deref().filter(|m| !m.is_empty()).unwrap_or("failed"),
            }))
        })
        .collect();
    annotations
        .chunks(ANNOTATIONS_PER_REQUEST)
        .map(<[serde_json::Value]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(name: &str, value: f64, threshold: Option<f64>, higher: bool) -> Metric {
        Metric {
            name: name.into(),
            value,
            unit: None,
            higher_is_better: higher,
            threshold,
        }
    }

    fn case(name: &str, passed: bool) -> Case {
        Case {
            name: name.into(),
            passed,
            score: None,
            message: None,
            path: None,
            line: None,
        }
    }

    #[test]
    fn numbers_read_short_and_changes_carry_a_sign() {
        assert_eq!(number(0.93), "0.93");
        assert_eq!(number(1.0), "1");
        assert_eq!(number(412.25), "412.25");
        assert_eq!(number(-0.0001), "0");
        assert_eq!(signed(0.02), "+0.02");
        assert_eq!(signed(-1.5), "-1.5");
        assert_eq!(signed(0.0), "±0");
    }

    #[test]
    fn the_one_line_names_cases_score_and_first_metric_with_changes() {
        let results = Results {
            score: Some(0.9),
            metrics: vec![metric("accuracy", 0.93, Some(0.9), true)],
            cases: (0..90).map(|i| case(&format!("c{i}"), i >= 3)).collect(),
        };
        let baseline = Results {
            score: Some(0.85),
            metrics: vec![metric("accuracy", 0.91, None, true)],
            cases: vec![],
        };
        assert_eq!(
            one_line(&results, Some(&baseline)).expect("a line"),
            "87/90 passed · score 0.9 (+0.05) · accuracy 0.93 (+0.02)"
        );
        assert_eq!(
            one_line(&results, None).expect("a line"),
            "87/90 passed · score 0.9 · accuracy 0.93"
        );
        assert!(one_line(&Results::default(), None).is_none());
        let long = Results {
            metrics: vec![metric(&"m".repeat(200), 1.0, None, true)],
            cases: vec![case("x", true)],
            score: Some(1.0),
        };
        assert!(one_line(&long, None).expect("a line").chars().count() <= MAX_DESCRIPTION_CHARS);
    }

    #[test]
    fn thresholds_follow_the_metric_direction() {
        let results = Results {
            metrics: vec![
                metric("recall", 0.8, Some(0.9), true),
                metric("latency", 120.0, Some(200.0), false),
                metric("cost", 3.0, None, false),
            ],
            ..Results::default()
        };
        let verdicts: Vec<Option<bool>> =
            compare(&results, None).iter().map(|c| c.passed).collect();
        assert_eq!(verdicts, vec![Some(false), Some(true), None]);
    }

    #[test]
    fn bounds_are_checked_with_the_field_named() {
        let field = |r: Results| match r.check() {
            Err(AppError::Invalid { field, .. }) => field,
            other => panic!("expected a refusal, got {other:?}"),
        };
        let mut r = Results {
            score: Some(1.5),
            ..Results::default()
        };
        assert_eq!(field(r.clone()), "score");
        r.score = None;
        r.metrics = (0..51)
            .map(|i| metric(&format!("m{i}"), 1.0, None, true))
            .collect();
        assert_eq!(field(r.clone()), "metrics");
        r.metrics = vec![metric("a", 1.0, None, true), metric("a", 2.0, None, true)];
        assert_eq!(field(r.clone()), "metrics[1].name");
        r.metrics = vec![metric("a", f64::NAN, None, true)];
        assert_eq!(field(r.clone()), "metrics[0].value");
        r.metrics = vec![];
        r.cases = vec![Case {
            line: Some(3),
            ..case("a", false)
        }];
        assert_eq!(field(r.clone()), "cases[0].line");
        r.cases = vec![Case {
            path: Some("../etc/passwd".into()),
            ..case("a", false)
        }];
        assert_eq!(field(r.clone()), "cases[0].path");
        r.cases = vec![Case {
            message: Some("x".repeat(1025)),
            ..case("a", false)
        }];
        assert_eq!(field(r.clone()), "cases[0].message");
        r.cases = (0..1001).map(|i| case(&format!("c{i}"), true)).collect();
        assert_eq!(field(r), "cases");
    }

    #[test]
    fn untrusted_text_cannot_break_the_table_or_ping() {
        let text = markdown_text("a|b\n<img src=x> @octocat [x](javascript:1)", 200);
        assert!(!text.contains('\n'));
        assert!(!text.contains(" |") && text.contains("\\|"));
        assert!(text.contains("\\<img"));
        assert!(text.contains("@\u{200b}octocat"));
        assert!(text.contains("\\[x\\]\\(javascript:1\\)"));
    }

    #[test]
    fn annotations_go_fifty_at_a_time_for_failing_cases_with_a_place() {
        let cases = (0..130)
            .map(|i| Case {
                path: (i < 125).then(|| "src/lib.rs".to_string()),
                line: (i < 125).then_some(i + 1),
                ..case(&format!("c{i}"), i < 5)
            })
            .collect();
        let batches = annotation_batches(&Results {
            cases,
            ..Results::default()
        });
        let sizes: Vec<usize> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![50, 50, 20]);
        assert_eq!(batches[0][0]["start_line"], 6);
    }

    #[test]
    fn the_markdown_report_has_the_table_and_the_failures() {
        let results = Results {
            score: None,
            metrics: vec![metric("accuracy", 0.93, Some(0.9), true)],
            cases: vec![
                Case {
                    message: Some("expected 4".into()),
                    path: Some("evals/math.py".into()),
                    line: Some(12),
                    ..case("adds", false)
                },
                case("subtracts", true),
            ],
        };
        let baseline = Results {
            metrics: vec![metric("accuracy", 0.91, None, true)],
            ..Results::default()
        };
        let text = Report {
            results: &results,
            baseline: Some(&baseline),
            baseline_named: Some("run of #3".into()),
            link: Some("https://p.example/eval-runs#ev_1"),
        }
        .markdown();
        assert!(
            text.contains("| accuracy | 0.93 | 0.91 | +0.02 | ≥ 0.9 | ✔ |"),
            "{text}"
        );
        assert!(text.contains("**Failing cases** (1 of 2)"), "{text}");
        assert!(
            text.contains("| adds |  | evals/math.py:12 | expected 4 |"),
            "{text}"
        );
        assert!(text.contains("Baseline: run of #3."), "{text}");
    }
}
