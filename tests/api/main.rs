//! Integration tests: the real server over HTTP, with a real SQLite file (or a real PostgreSQL
//! database: see backend.rs).

mod access;
mod acme;
mod actions;
mod alerts;
mod audit;
mod backend;
mod browser;
mod charts;
mod ci_tokens;
mod defects;
mod dispatch;
mod egress;
mod eval_results;
mod examples;
mod fake;
mod fixtures;
mod forms;
mod github_app;
mod github_app_manifest;
mod github_app_standin;
mod gitlab_groups;
mod helpers;
mod hygiene;
mod integrations;
mod metrics;
mod notifications;
mod oidc_standin;
mod openapi;
mod outbox;
mod outside_review;
#[allow(dead_code)]
mod pebble;
mod pipeline;
mod proxies;
mod published_examples;
mod receiver;
mod reconcile;
mod replay;
mod repo_patterns;
mod results;
mod secrets;
mod security;
mod slack_threads;
mod sso;
mod stats;
mod time;
#[allow(dead_code)]
mod tls_support;
mod trace;
mod ui;
mod ui_assets;
