//! Prometheus metrics, served at `GET /metrics` (bearer token, like the API): what arrived,
//! what processing made of it, what was said to remotes and how they answered, and, read at
//! each scrape, the queues and the database's size.

use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    /// GITHUB, GITLAB, SLACK, WEBHOOK, or `unknown` before the integration is known.
    pub r#type: String,
    /// accepted, duplicate, rejected_signature, invalid, not_found, too_large, unavailable.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutboundLabels {
    /// github, gitlab, slack.
    pub remote: String,
    /// accepted, retry, paused, refused.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StatusLabels {
    pub status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConditionLabels {
    pub condition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    /// The node's id (`--node-id`): joins this node's series with the cluster view.
    pub node: String,
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TlsLabels {
    /// files, or acme.
    pub source: String,
    /// ok, or error.
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FileLabels {
    /// database or wal.
    pub file: String,
}

/// Queue figures read from the database at scrape time.
pub struct QueueFigures {
    pub events: Vec<(&'static str, i64)>,
    pub oldest_received_age: Option<Duration>,
    pub outbox: Vec<(&'static str, i64)>,
    /// What the database server reports it holds (PostgreSQL); a SQLite file is measured here.
    pub database_bytes: Option<i64>,
    /// Nodes whose lease is good, this one included.
    pub nodes_alive: i64,
    /// Whether this node holds the cluster's duties (pruning, reconcile, replays).
    pub holds_duties: bool,
    /// Open alerts by condition, every condition listed (0 when none is open).
    pub alerts_open: Vec<(&'static str, i64)>,
}

pub struct Metrics {
    registry: Registry,
    deliveries: Family<DeliveryLabels, Counter>,
    processing: Family<ResultLabels, Counter>,
    outbound: Family<OutboundLabels, Counter>,
    ack_seconds: Histogram,
    processing_seconds: Histogram,
    queue: Family<StatusLabels, Gauge>,
    oldest_received_seconds: Gauge<f64, AtomicU64>,
    outbox: Family<StatusLabels, Gauge>,
    file_bytes: Family<FileLabels, Gauge>,
    node_info: Family<NodeLabels, Gauge>,
    nodes_alive: Gauge,
    holds_duties: Gauge,
    alerts_open: Family<ConditionLabels, Gauge>,
    tls_loads: Family<TlsLabels, Counter>,
    tls_expiry: Gauge,
    /// The SQLite file, whose size (and its WAL's) is reported; none on PostgreSQL.
    db_path: Option<PathBuf>,
}

impl Metrics {
    pub fn new(db_path: Option<PathBuf>) -> Metrics {
        let mut registry = Registry::with_prefix("provenant");
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "deliveries",
            "Deliveries to the receiver, by integration type and result",
            deliveries.clone(),
        );
        let processing = Family::<ResultLabels, Counter>::default();
        registry.register(
            "processing",
            "Processing attempts, by result (processed, failed, retry)",
            processing.clone(),
        );
        let outbound = Family::<OutboundLabels, Counter>::default();
        registry.register(
            "outbound_calls",
            "Calls to GitHub, GitLab and Slack, by remote and how it answered",
            outbound.clone(),
        );
        // 0.5 ms … about 16 s.
        let ack_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "ack_seconds",
            "Time from a delivery's arrival to its answer",
            ack_seconds.clone(),
        );
        // 1 ms … about 9 h.
        let processing_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 25));
        registry.register(
            "processing_latency_seconds",
            "Time from a delivery's arrival to the end of its processing",
            processing_seconds.clone(),
        );
        let queue = Family::<StatusLabels, Gauge>::default();
        registry.register("events", "Stored events by status", queue.clone());
        let oldest_received_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "oldest_received_age_seconds",
            "How long the oldest event waiting to be processed has waited",
            oldest_received_seconds.clone(),
        );
        let outbox = Family::<StatusLabels, Gauge>::default();
        registry.register(
            "outbox_rows",
            "Outbox rows waiting, being sent, or failed",
            outbox.clone(),
        );
        let file_bytes = Family::<FileLabels, Gauge>::default();
        registry.register(
            "database_bytes",
            "Size of the database file and its write-ahead log",
            file_bytes.clone(),
        );
        let node_info = Family::<NodeLabels, Gauge>::default();
        registry.register(
            "node_info",
            "This node: its id and version (always 1)",
            node_info.clone(),
        );
        let nodes_alive = Gauge::default();
        registry.register(
            "cluster_nodes_alive",
            "Nodes on this database whose lease is good, this one included",
            nodes_alive.clone(),
        );
        let holds_duties = Gauge::default();
        registry.register(
            "node_holds_duties",
            "1 while this node holds the cluster's duties (pruning, reconcile, replays)",
            holds_duties.clone(),
        );
        let alerts_open = Family::<ConditionLabels, Gauge>::default();
        registry.register(
            "alerts_open",
            "Open alerts by condition (see GET /api/alerts)",
            alerts_open.clone(),
        );
        let tls_loads = Family::<TlsLabels, Counter>::default();
        registry.register(
            "tls_certificate_loads",
            "Certificates loaded from files or obtained by ACME, and failures to, by source and result",
            tls_loads.clone(),
        );
        let tls_expiry = Gauge::default();
        registry.register(
            "tls_certificate_expiry_timestamp_seconds",
            "When the certificate HTTPS serves expires (Unix time); 0 without HTTPS",
            tls_expiry.clone(),
        );
        Metrics {
            registry,
            tls_loads,
            tls_expiry,
            node_info,
            nodes_alive,
            holds_duties,
            alerts_open,
            deliveries,
            processing,
            outbound,
            ack_seconds,
            processing_seconds,
            queue,
            oldest_received_seconds,
            outbox,
            file_bytes,
            db_path,
        }
    }

    pub fn delivery(&self, kind: &str, result: &str, took: Option<Duration>) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                r#type: kind.to_string(),
                result: result.to_string(),
            })
            .inc();
        if let Some(took) = took {
            self.ack_seconds.observe(took.as_secs_f64());
        }
    }

    /// A processing attempt ended; `latency` (arrival to now) for finished ones.
    pub fn processed(&self, result: &str, latency: Option<Duration>) {
        self.processing
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
        if let Some(latency) = latency {
            self.processing_seconds.observe(latency.as_secs_f64());
        }
    }

    pub fn outbound(&self, remote: &str, result: &str) {
        self.outbound
            .get_or_create(&OutboundLabels {
                remote: remote.to_string(),
                result: result.to_string(),
            })
            .inc();
    }

    /// A certificate was loaded (with its expiry), or loading one failed.
    pub fn tls_loaded(&self, source: &str, result: &str, not_after: Option<i64>) {
        self.tls_loads
            .get_or_create(&TlsLabels {
                source: source.to_string(),
                result: result.to_string(),
            })
            .inc();
        if let Some(at) = not_after {
            self.tls_expiry.set(at);
        }
    }

    /// Names this node in `provenant_node_info`.
    pub fn set_node(&self, id: &str) {
        self.node_info
            .get_or_create(&NodeLabels {
                node: id.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
    }

    /// The text exposition, with the queue figures and file sizes of this moment.
    pub fn render(&self, figures: &QueueFigures) -> String {
        self.nodes_alive.set(figures.nodes_alive);
        self.holds_duties.set(i64::from(figures.holds_duties));
        for (condition, n) in &figures.alerts_open {
            self.alerts_open
                .get_or_create(&ConditionLabels {
                    condition: condition.to_string(),
                })
                .set(*n);
        }
        for (status, n) in &figures.events {
            self.queue
                .get_or_create(&StatusLabels {
                    status: status.to_string(),
                })
                .set(*n);
        }
        self.oldest_received_seconds.set(
            figures
                .oldest_received_age
                .map_or(0.0, |age| age.as_secs_f64()),
        );
        for (status, n) in &figures.outbox {
            self.outbox
                .get_or_create(&StatusLabels {
                    status: status.to_string(),
                })
                .set(*n);
        }
        if let Some(bytes) = figures.database_bytes {
            self.file_bytes
                .get_or_create(&FileLabels {
                    file: "database".to_string(),
                })
                .set(bytes);
        }
        if let Some(db_path) = &self.db_path {
            for (file, bytes) in crate::base::files::sqlite_file_bytes(db_path) {
                self.file_bytes
                    .get_or_create(&FileLabels {
                        file: file.to_string(),
                    })
                    .set(bytes as i64);
            }
        }
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
