//! Runs senders against a server for a while and collects what happened.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::client::{Conn, Request};

/// Builds request `n` of sender `sender`: its head and its body.
pub type MakeRequest = Arc<dyn Fn(usize, u64) -> (Vec<u8>, Arc<[u8]>) + Send + Sync>;

#[derive(Default, Debug, Clone)]
pub struct LoadResult {
    pub ok: u64,
    pub errors: u64,
    pub seconds: f64,
    /// Acknowledgement latencies in microseconds, sorted.
    pub latencies_us: Vec<u32>,
    /// The first error seen, to print.
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.seconds
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile_ms(&self.latencies_us, p)
    }
}

pub fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted_us.len() - 1) as f64 * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

pub struct Plan {
    /// Where to send: each connection goes to the next of these in turn.
    pub addrs: Vec<SocketAddr>,
    pub connections: usize,
    pub warmup: Duration,
    pub duration: Duration,
    /// Total requests per second across all connections; None: as fast as answers come.
    pub rate: Option<f64>,
    /// Answers counted as success.
    pub ok_statuses: &'static [u16],
    pub make: MakeRequest,
}

/// Runs the plan on its own runtime (two threads: the machine's cores are shared with the
/// server) and returns the figures for the measured part (after the warm-up).
pub fn run(plan: Plan) -> LoadResult {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("load runtime");
    runtime.block_on(run_async(plan))
}

async fn run_async(plan: Plan) -> LoadResult {
    let plan = Arc::new(plan);
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for sender in 0..plan.connections {
        let (plan, measuring, stop, counter) = (
            plan.clone(),
            measuring.clone(),
            stop.clone(),
            counter.clone(),
        );
        let addr = plan.addrs[sender % plan.addrs.len()];
        tasks.push(tokio::spawn(async move {
            let mut out = LoadResult::default();
            let mut conn = match Conn::open(addr).await {
                Ok(c) => c,
                Err(e) => {
                    out.errors += 1;
                    out.first_error = Some(format!("connect: {e}"));
                    return out;
                }
            };
            // Paced senders spread their start across one period.
            let period = plan
                .rate
                .map(|r| Duration::from_secs_f64(plan.connections as f64 / r));
            let mut next = Instant::now()
                + period.map_or(Duration::ZERO, |p| {
                    p.mul_f64(sender as f64 / plan.connections as f64)
                });
            while !stop.load(Ordering::Relaxed) {
                if let Some(period) = period {
                    tokio::time::sleep_until(next.into()).await;
                    next += period;
                }
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let (head, body) = (plan.make)(sender, n);
                let sent = Instant::now();
                let answer = conn
                    .call(Request {
                        head: &head,
                        body: &body,
                    })
                    .await;
                let took = sent.elapsed();
                if !measuring.load(Ordering::Relaxed) {
                    if answer.is_err() {
                        // Reconnect and go on: the warm-up does not count.
                        match Conn::open(addr).await {
                            Ok(c) => conn = c,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                    continue;
                }
                match answer {
                    Ok((status, _)) if plan.ok_statuses.contains(&status) => {
                        out.ok += 1;
                        out.latencies_us
                            .push(took.as_micros().min(u32::MAX as u128) as u32);
                    }
                    Ok((status, body)) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| {
                            format!("{status}: {}", String::from_utf8_lossy(&body))
                        });
                    }
                    Err(e) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| e.to_string());
                        match Conn::open(addr).await {
                            Ok(c) => conn = c,
                            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                        }
                    }
                }
            }
            out
        }));
    }
    tokio::time::sleep(plan.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let measured_from = Instant::now();
    tokio::time::sleep(plan.duration).await;
    stop.store(true, Ordering::Relaxed);
    let seconds = measured_from.elapsed().as_secs_f64();
    let mut total = LoadResult {
        seconds,
        ..Default::default()
    };
    for task in tasks {
        let r = task.await.unwrap_or_default();
        total.ok += r.ok;
        total.errors += r.errors;
        total.latencies_us.extend(r.latencies_us);
        if total.first_error.is_none() {
            total.first_error = r.first_error;
        }
    }
    total.latencies_us.sort_unstable();
    let _ = started;
    total
}
