//! This node among the others that share its database (on SQLite, always alone).
//!
//! A node has a stable id (`--node-id`, or one kept in its data folder) and, for each start,
//! a new claim token: every event and outbox row it claims carries that token, and it writes
//! an outcome only while the row still does. One thread per node, the cluster watcher:
//! - renews the node's lease (a heartbeat every third of it), so its claims stay its own;
//! - puts back in their queues the claims of nodes whose lease ran out;
//! - takes or renews the cluster's duties (pruning, reconcile, replays) when they are free;
//! - hears what other nodes did: stored deliveries (to wake this node's worker) and API
//!   writes (to make this node's receiver read integrations afresh), through PostgreSQL's
//!   LISTEN, with the configuration counter polled as a backstop for a lost NOTIFY.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::db::SyncMode;
use crate::db::cluster::{self, Notice};
use crate::db::{self, Heard, Listener};

/// How often the configuration counter is read: a change on another node reaches this one's
/// receiver within this (and at once when the NOTIFY arrives).
const WATCH_EVERY: Duration = Duration::from_millis(250);
/// Pause before listening again after the listening connection was lost.
const LISTEN_RETRY: Duration = Duration::from_secs(1);
/// Stopped nodes stay in the cluster view this long.
pub const SHOWN_FOR: Duration = Duration::from_secs(24 * 3600);

/// This node: who it is, this start's claim token, and whether it holds the duties.
pub struct Node {
    pub id: String,
    pub claim_token: String,
    pub lease: Duration,
    /// The duties' fence while this node holds them; 0 while it does not.
    lead: AtomicI64,
    /// Other nodes with a good lease, as of the last heartbeat.
    peers: AtomicI64,
}

impl Node {
    pub fn new(id: String, lease: Duration) -> Node {
        Node {
            id,
            claim_token: crate::domain::model::new_row_id(),
            lease,
            lead: AtomicI64::new(0),
            peers: AtomicI64::new(0),
        }
    }

    /// Whether other nodes were alive at the last heartbeat (they may want a turn with the
    /// integrations this node is processing).
    pub fn has_peers(&self) -> bool {
        self.peers.load(Ordering::SeqCst) > 0
    }

    /// The duties' fence, while this node holds them (as of its last heartbeat): check it
    /// again with [`cluster::holds_lead`] in the transaction that acts on it.
    pub fn lead(&self) -> Option<i64> {
        Some(self.lead.load(Ordering::SeqCst)).filter(|f| *f > 0)
    }

    fn lease_ms(&self) -> i64 {
        self.lease.as_millis() as i64
    }
}

/// This node's id, and whether its previous run (if any) used this data folder.
pub struct NodeId {
    pub id: String,
    /// The previous run under this id used this folder, so it is over: this process holds
    /// the folder's lock. False for an id given by `--node-id` that this folder has not run
    /// as: a process elsewhere may still be running under it.
    pub ran_here_before: bool,
}

/// The node id: the one given, or the one kept in the data folder (made at the first start
/// from the host's name and a random suffix, so two nodes on one machine differ). The folder
/// keeps the id it last ran as. Without a folder, an id given may have run anywhere, and one
/// made up is new.
pub fn node_id(given: Option<&str>, data_dir: Option<&std::path::Path>) -> anyhow::Result<NodeId> {
    let Some(data_dir) = data_dir else {
        return Ok(match given {
            Some(given) => NodeId {
                id: given.to_string(),
                ran_here_before: false,
            },
            None => NodeId {
                id: made_up_id()?,
                ran_here_before: true,
            },
        });
    };
    let file = data_dir.join("node-id");
    let kept = match std::fs::read_to_string(&file) {
        Ok(id) => Some(id.trim().to_string()).filter(|id| !id.is_empty()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    let (id, ran_here_before) = match (given, kept) {
        (Some(given), kept) => (given.to_string(), kept.as_deref() == Some(given)),
        (None, Some(kept)) => (kept, true),
        // A new id has never run anywhere.
        (None, None) => (made_up_id()?, true),
    };
    if std::fs::read_to_string(&file)
        .ok()
        .as_deref()
        .map(str::trim)
        != Some(id.as_str())
    {
        let _ = std::fs::remove_file(&file);
        crate::base::files::write_owner_only(&file, &id)
            .with_context(|| format!("writing {}", file.display()))?;
    }
    Ok(NodeId {
        id,
        ran_here_before,
    })
}

fn made_up_id() -> anyhow::Result<String> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
                .take(40)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "node".into());
    let mut suffix = [0u8; 3];
    getrandom::fill(&mut suffix).map_err(|e| anyhow::anyhow!("random bytes: {e}"))?;
    Ok(format!("{host}-{}", hex::encode(suffix)))
}

/// A start under an id this folder has not run as waits while another process's lease on
/// that id is still good: its claims are put back only once it cannot be working on them.
fn wait_for_previous_run(conn: &db::Connection, node_id: &str) -> anyhow::Result<()> {
    let mut said = false;
    while let Some(left) = cluster::lease_left_ms(conn.conn(), node_id)? {
        if !said {
            tracing::warn!(
                node = %node_id,
                wait_ms = left,
                "this node id's previous run was elsewhere and its lease is still good: waiting \
                 for it to run out (give every node its own --node-id)"
            );
            said = true;
        }
        std::thread::sleep(Duration::from_millis(left.clamp(10, 1_000) as u64));
    }
    Ok(())
}

/// Records this start and puts its previous run's claims back in their queues (see
/// [`cluster::join`]). Call before serving.
pub fn join(
    database: &db::Location,
    node: &Node,
    ran_here_before: bool,
    address: &str,
) -> anyhow::Result<()> {
    let conn = db::Connection::open(database, SyncMode::Full)?;
    if !ran_here_before {
        wait_for_previous_run(&conn, &node.id)?;
    }
    let requeued = conn.transaction(|tx| {
        cluster::join(
            tx,
            &cluster::NodeInfo {
                id: &node.id,
                claim_token: &node.claim_token,
                address,
                version: env!("CARGO_PKG_VERSION"),
                lease_ms: node.lease_ms(),
            },
        )
    })?;
    if requeued.events > 0 || requeued.outbox_rows > 0 {
        tracing::warn!(
            events = requeued.events,
            outbox_rows = requeued.outbox_rows,
            "re-queued what this node's previous run left claimed (a crash or kill)"
        );
    }
    tracing::info!(node = %node.id, "joined the cluster");
    Ok(())
}

pub struct WatcherConfig {
    pub database: db::Location,
    pub node: Arc<Node>,
    /// Deliveries were stored (here or on another node), or claims came back: wake the
    /// worker and the outbox.
    pub on_work: Box<dyn Fn() + Send>,
    /// An API write committed on another node: read integrations afresh.
    pub on_config: Box<dyn Fn() + Send>,
}

pub struct Watcher {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Watcher {
    pub fn start(config: WatcherConfig) -> anyhow::Result<Watcher> {
        let conn = db::Connection::open(&config.database, SyncMode::Normal)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("cluster-watcher".into())
                .spawn(move || watch(conn, &config, &stop))
                .context("starting the cluster watcher")?
        };
        Ok(Watcher { stop, thread })
    }

    /// Stops watching and ends this node's lease and its hold on the duties, so the other
    /// nodes take them over at once. Call after the worker and the outbox put their claims
    /// back.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        if self.thread.join().is_err() {
            tracing::error!("the cluster watcher panicked");
        }
    }
}

fn watch(mut conn: db::Connection, config: &WatcherConfig, stop: &AtomicBool) {
    let node = &config.node;
    let beat_every = (node.lease / 3).max(Duration::from_millis(100));
    let postgres = config.database.is_postgres();
    let mut listener: Option<Listener> = None;
    let mut listen_at = Instant::now();
    let mut next_beat = Instant::now();
    let mut generation = cluster::config_generation(conn.conn()).ok();
    while !stop.load(Ordering::SeqCst) {
        let _ = conn.reconnect_if_lost();
        if postgres && listener.is_none() && Instant::now() >= listen_at {
            match Listener::open(&config.database) {
                Ok(opened) => listener = opened,
                Err(e) => {
                    tracing::debug!(error = %e, "listening for other nodes failed; polling meanwhile");
                    listen_at = Instant::now() + LISTEN_RETRY;
                }
            }
        }
        let notices = match &listener {
            Some(l) => match l.wait(WATCH_EVERY) {
                Heard::Notices(notices) => notices,
                Heard::Lost => {
                    listener = None;
                    listen_at = Instant::now() + LISTEN_RETRY;
                    Vec::new()
                }
            },
            None => {
                std::thread::sleep(WATCH_EVERY);
                Vec::new()
            }
        };
        if notices.contains(&Notice::Events) {
            tracing::debug!("deliveries were stored (on this node or another): waking the worker");
            (config.on_work)();
        }
        // Every round, not only on a notice: a NOTIFY can be missed (the listener reconnecting).
        if postgres && let Ok(now) = cluster::config_generation(conn.conn()) {
            if generation.is_some_and(|g| g != now) {
                (config.on_config)();
            }
            generation = Some(now);
        }
        if Instant::now() >= next_beat {
            beat(&conn, config);
            next_beat = Instant::now() + beat_every;
        }
    }
    let left = conn.transaction(|tx| cluster::leave(tx, &node.id, &node.claim_token));
    if let Err(e) = left {
        tracing::warn!(error = %e, "recording this node's stop failed; its lease runs out by itself");
    }
}

/// Renews the lease, takes back expired claims, and takes or renews the duties.
fn beat(conn: &db::Connection, config: &WatcherConfig) {
    let node = &config.node;
    match cluster::heartbeat(conn.conn(), &node.id, &node.claim_token, node.lease_ms()) {
        Ok(true) => {}
        Ok(false) => tracing::error!(
            node = %node.id,
            "another process started with this node id; give every node its own --node-id"
        ),
        Err(e) => tracing::warn!(error = %e, "renewing this node's lease failed"),
    }
    match cluster::peers_alive(conn.conn(), &node.id) {
        Ok(n) => node.peers.store(n, Ordering::SeqCst),
        Err(e) => tracing::debug!(error = %e, "counting the other nodes failed"),
    }
    match conn.transaction(cluster::reclaim_expired) {
        Ok(back) if back.events > 0 || back.outbox_rows > 0 => {
            tracing::warn!(
                events = back.events,
                outbox_rows = back.outbox_rows,
                "took back the claims of a node whose lease ran out"
            );
            (config.on_work)();
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "taking back expired claims failed"),
    }
    let lead = cluster::take_lead(conn.conn(), &node.id, &node.claim_token, node.lease_ms());
    let fence = match lead {
        Ok(fence) => fence.unwrap_or(0),
        Err(e) => {
            tracing::warn!(error = %e, "renewing the cluster's duties failed");
            // Unrenewed, the hold ends with the lease; acting on it meanwhile is fenced.
            node.lead.load(Ordering::SeqCst)
        }
    };
    let before = node.lead.swap(fence, Ordering::SeqCst);
    if before == 0 && fence > 0 {
        tracing::info!(node = %node.id, "this node now holds the cluster's duties (pruning, reconcile, replays, timeouts)");
        // The worker does its share of them when idle: wake it, so that none waits for its
        // next round (at a start, the worker is often idle before the first beat).
        (config.on_work)();
    } else if before > 0 && fence == 0 {
        tracing::info!(node = %node.id, "another node holds the cluster's duties now");
    }
}
