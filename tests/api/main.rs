//! Integration tests: the real server over HTTP, with a real SQLite file (or a real PostgreSQL
//! database: see backend.rs).

mod actions;
mod backend;
mod browser;
mod defects;
mod fake;
mod fixtures;
mod helpers;
mod hygiene;
mod integrations;
mod metrics;
mod notifications;
mod openapi;
mod outbox;
mod pipeline;
mod proxies;
mod receiver;
mod reconcile;
mod replay;
mod results;
mod secrets;
mod security;
mod slack_threads;
mod time;
mod trace;
mod ui;
mod ui_assets;
