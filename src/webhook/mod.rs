//! Receiving deliveries: verification, classification and the public receiver endpoint.

pub mod classify;
pub mod directory;
pub mod peek;
pub mod receive;
pub mod slack;
pub mod verify;
