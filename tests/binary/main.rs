//! Tests of the real `provenant` executable: started on port 0, read from its stderr, stopped
//! with signals.

mod bench;
mod crash;
mod database;
#[path = "../api/fake.rs"]
#[allow(dead_code)]
mod fake;
mod fixture;
#[path = "../api/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;
mod full_disk;
mod migrate;
mod nodes;
mod postgres_tls;
mod remotes;
mod service;
mod smoke;
mod tls;
