//! Layer 1: the product's words and rules, pure: integration configs, checked strings, JSON read with field-named errors, scopes and credentials, masking, decision traces, audit entries, the model, bearer tokens.

pub mod access;
pub mod audit;
pub mod auth;
pub mod checked;
pub mod credentials;
pub mod integration_config;
pub mod json_fields;
pub mod masking;
pub mod model;
pub mod trace;
