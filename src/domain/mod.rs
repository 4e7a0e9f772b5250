//! Layer 1: the product's words and rules, pure: integration configs, checked strings, JSON read with field-named errors, scopes and credentials, masking, decision traces, audit entries, the model, bearer tokens, eval results and how they read, reading a delivery (verify, classify, peek), what it means (actions), `${secret:NAME}` and sealing, Block Kit, who may sign in, where credentials may go and which addresses requests may not reach.

pub mod access;
pub mod actions;
pub mod audit;
pub mod auth;
pub mod block_kit;
pub mod checked;
pub mod ci_jobs;
pub mod credentials;
pub mod egress;
pub mod eval_results;
pub mod hosts;
pub mod integration_config;
pub mod json_fields;
pub mod masking;
pub mod model;
pub mod secrets;
pub mod sso;
pub mod trace;
pub mod webhook;
