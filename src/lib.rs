//! Provenant Integrations: a single-binary webhook gateway for GitHub, GitLab, Slack and any
//! webhook sender. `app::run` is the seam shared by `main` and the tests.

pub mod acceptor;
pub mod access;
pub mod actions;
pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod checked;
pub mod clock;
pub mod cluster;
pub mod config;
pub mod console;
pub mod crashpoint;
pub mod credentials;
pub mod db;
pub mod doctor;
pub mod error;
pub mod files;
pub mod http;
pub mod http_head;
pub mod integration_config;
pub mod masking;
pub mod metrics;
pub mod model;
pub mod move_to_postgres;
pub mod notify;
pub mod outbox;
pub mod proxy;
pub mod reconcile;
pub mod remote;
pub mod replay;
pub mod report;
pub mod retry;
pub mod secrets;
pub mod sso;
pub mod state;
pub mod throttle;
pub mod tls;
pub mod trace;
pub mod ui;
pub mod webhook;
pub mod worker;

pub use app::{run, run_with};
pub use config::{Config, Settings};
pub use error::AppError;
