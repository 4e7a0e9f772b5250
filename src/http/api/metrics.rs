//! `GET /metrics`: Prometheus text, for any token with the `read` scope.

use std::time::Duration;

use poem::web::Data;
use poem::{Request, Response, handler};

use crate::base::metrics::QueueFigures;
use crate::db::{self, events, outbox};
use crate::http::state::SharedState;

#[handler]
pub async fn scrape(req: &Request, state: Data<&SharedState>) -> Response {
    if let Err(e) = super::guard::admit(&state, req, crate::domain::access::Need::Read).await {
        return e.as_problem();
    }
    let now = state.clock.now_ms();
    let holds_duties = state.node.lead().is_some();
    let figures = db::run(&state.pool, move |conn| {
        let q = events::queue_stats(conn)?;
        let (pending, sending, failed) = outbox::counts(conn)?;
        Ok(QueueFigures {
            events: vec![
                ("RECEIVED", q.received),
                ("PROCESSING", q.processing),
                ("PROCESSED", q.processed),
                ("FAILED", q.failed),
            ],
            oldest_received_age: q
                .oldest_received_at
                .map(|t| Duration::from_millis((now - t).max(0) as u64)),
            outbox: vec![
                ("PENDING", pending),
                ("SENDING", sending),
                ("FAILED", failed),
            ],
            database_bytes: db::storage::database_bytes(conn)?,
            nodes_alive: db::cluster::nodes(conn, 0)?
                .iter()
                .filter(|n| n.alive)
                .count() as i64,
            holds_duties,
            alerts_open: {
                let open = db::alerts::open_alerts(conn)?;
                crate::pipeline::alerts::CONDITIONS
                    .iter()
                    .map(|c| (*c, open.iter().filter(|a| a.condition == *c).count() as i64))
                    .collect()
            },
        })
    })
    .await;
    match figures {
        Ok(figures) => Response::builder()
            .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
            .body(state.metrics.render(&figures)),
        Err(e) => e.as_problem(),
    }
}
