//! Tests of the real `provenant` executable: started on port 0, read from its stderr, stopped
//! with signals.

mod acme;
mod bench;
mod comment_crash;
mod crash;
mod database;
mod docs;
mod doctor;
#[path = "../api/fake.rs"]
#[allow(dead_code)]
mod fake;
mod fixture;
#[path = "../api/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
mod full_disk;
mod github_app;
#[path = "../api/github_app_standin.rs"]
#[allow(dead_code)]
mod github_app_standin;
mod migrate;
mod nodes;
#[path = "../api/pebble.rs"]
mod pebble;
mod postgres_tls;
mod remotes;
mod service;
mod smoke;
mod tls;
#[path = "../api/tls_support.rs"]
#[allow(dead_code)]
mod tls_support;
