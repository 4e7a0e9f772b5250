//! Layer 4: deciding and delivering in the background: the context background work shares, the worker, the outbox, announcements, secrets at their moment of use, reports, reconcile, replays, alerts, the cluster node.

pub mod alerts;
pub mod cluster;
pub mod ctx;
pub mod notify;
pub mod outbox;
pub mod reconcile;
pub mod replay;
pub mod report;
pub mod runs;
pub mod secrets;
pub mod worker;
