//! Layer 4: deciding and delivering in the background: the context background work shares, reports, reconcile, replays, alerts, the cluster node.

pub mod alerts;
pub mod cluster;
pub mod ctx;
pub mod reconcile;
pub mod replay;
pub mod report;
