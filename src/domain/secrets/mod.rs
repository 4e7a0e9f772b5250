//! Secrets: named values stored encrypted, referred to from configs as `${secret:NAME}`; the
//! cipher, the references and sealed inline values. Using them against storage is
//! `pipeline::secrets`.

pub mod crypto;
pub mod refs;
pub mod sealed;

pub use crypto::SecretBox;
