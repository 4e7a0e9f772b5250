//! Provenant Integrations: a single-binary webhook gateway for GitHub, GitLab, Slack and any
//! webhook sender. `app::run` is the seam shared by `main` and the tests.

pub mod actions;
pub mod api;
pub mod app;
pub mod base;
pub mod db;
pub mod doctor;
pub mod domain;
pub mod http;
pub mod notify;
pub mod outbox;
pub mod pipeline;
pub mod remote;
pub mod secrets;
pub mod sso;
pub mod tls;
pub mod webhook;
pub mod worker;

// The paths the code and its tests have used, while they move to the folders of their layers.
pub use app::{config, move_to_postgres};
pub use base::{clock, console, crashpoint, error, files, log_lines, metrics, retry};
pub use domain::{
    access, audit, auth, checked, credentials, integration_config, json_fields, masking, model,
    trace,
};
pub use http::{acceptor, http_head, proxy, state, throttle, ui};
pub use pipeline::{alerts, cluster, ctx, reconcile, replay, report};

pub use app::{run, run_with};
pub use config::{Config, Settings};
pub use error::AppError;
