//! Reading a delivery: verification, classification, peeking into payloads. Pure; the public
//! receiver endpoint that uses them is `api::receiver`.

pub mod classify;
pub mod directory;
pub mod peek;
pub mod slack;
pub mod verify;
