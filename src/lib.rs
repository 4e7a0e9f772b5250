//! Provenant Integrations: a single-binary webhook gateway for GitHub, GitLab, Slack and any
//! webhook sender. Every module is a layer (see `tests/layers.rs`); `app::run` is the seam
//! shared by `main` and the tests.

pub mod app;
pub mod base;
pub mod db;
pub mod doctor;
pub mod domain;
pub mod http;
pub mod pipeline;
pub mod remote;
pub mod tls;
