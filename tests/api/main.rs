//! Integration tests: the real server over HTTP, with a real SQLite file.

mod helpers;
mod integrations;
mod openapi;
mod pipeline;
mod receiver;
