//! What a connection may hold, before the HTTP server sees it:
//!
//! - A connection that goes silent is closed (a read or write that waits longer than the idle
//!   timeout fails). poem's own idle timeout starts a graceful shutdown of the connection, which
//!   waits for the request that is half read; a read timeout on the socket ends it.
//! - A request head must arrive whole within its deadline, however slowly it trickles in: a
//!   sender that sends one header line every few seconds never goes silent, but it is cut off.
//! - Connections are capped, in all and per source address. Past a cap, the connection is
//!   answered `503` with `Retry-After` and closed at once, so one source holding many sockets
//!   cannot take the file descriptors everyone else needs. A trusted proxy carries everyone's
//!   requests, so it is held to the total only.
//! - With HTTPS, the TLS handshake runs in the connection's own task, within the head deadline;
//!   the head watch reads the decrypted bytes.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio_io_timeout::TimeoutStream;

use crate::http::http_head::HeadWatch;
use crate::http::proxy::TrustedProxies;
use crate::tls::stream::TlsConnection;

/// What a guarded connection reads and writes through: the socket, or TLS over it.
trait Transport: AsyncRead + AsyncWrite + Send {}
impl<T: AsyncRead + AsyncWrite + Send> Transport for T {}

/// The limits every connection is held to.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A read or write may wait this long.
    pub idle: Duration,
    /// A request head (request line and headers) must arrive within this, from its first byte.
    pub head: Duration,
    /// Connections open at once, in all.
    pub total: usize,
    /// Connections open at once from one source address.
    pub per_source: usize,
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// Keeps its connection counted until dropped.
struct Ticket {
    counts: Arc<Mutex<Counts>>,
    source: Option<IpAddr>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.total = counts.total.saturating_sub(1);
        if let Some(ip) = self.source
            && let Some(n) = counts.by_source.get_mut(&ip)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.by_source.remove(&ip);
            }
        }
    }
}

pub struct GuardedAcceptor<A> {
    inner: A,
    limits: Limits,
    counts: Arc<Mutex<Counts>>,
    /// HTTPS: every connection starts with a TLS handshake.
    tls: Option<Arc<rustls::ServerConfig>>,
    /// Not held to the per-address cap.
    proxies: TrustedProxies,
}

impl<A> GuardedAcceptor<A> {
    pub fn new(
        inner: A,
        limits: Limits,
        tls: Option<Arc<rustls::ServerConfig>>,
        proxies: TrustedProxies,
    ) -> Self {
        GuardedAcceptor {
            inner,
            limits,
            counts: Arc::default(),
            tls,
            proxies,
        }
    }

    /// Counts a new connection from `source`, or says which cap it would pass.
    fn admit(&self, source: Option<IpAddr>) -> Result<Ticket, &'static str> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.total >= self.limits.total {
            return Err("the server has as many connections open as it takes");
        }
        if let Some(ip) = source.filter(|ip| !self.proxies.contains(*ip)) {
            let n = counts.by_source.entry(ip).or_default();
            if *n >= self.limits.per_source {
                return Err("this address has as many connections open as one address may");
            }
            *n += 1;
        }
        counts.total += 1;
        Ok(Ticket {
            counts: self.counts.clone(),
            source: source.filter(|ip| !self.proxies.contains(*ip)),
        })
    }
}

/// The answer past a cap: a problem document, then the connection is closed.
fn refusal(reason: &str) -> Vec<u8> {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": format!("{reason}; try again shortly"),
        "code": "too_many_connections",
    })
    .to_string();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\n\
         retry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl<A: Acceptor> Acceptor for GuardedAcceptor<A>
where
    A::Io: 'static,
{
    type Io = Guarded;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        loop {
            let (mut io, local, remote, mut scheme) = self.inner.accept().await?;
            let source = remote.as_socket_addr().map(|a| a.ip());
            match self.admit(source) {
                Ok(ticket) => {
                    let mut stream = TimeoutStream::new(io);
                    // Every read or write that waits longer than this fails, and hyper drops
                    // the connection. Handlers never wait this long (storage gives up after
                    // 5 s, outbound calls after 10 s), so only silent peers are affected.
                    stream.set_read_timeout(Some(self.limits.idle));
                    stream.set_write_timeout(Some(self.limits.idle));
                    let transport: Pin<Box<dyn Transport>> = match &self.tls {
                        Some(config) => {
                            scheme = Scheme::HTTPS;
                            Box::pin(TlsConnection::new(
                                Box::pin(stream),
                                config.clone(),
                                self.limits.head,
                            ))
                        }
                        None => Box::pin(stream),
                    };
                    let guarded = Guarded {
                        inner: transport,
                        head: HeadWatch::default(),
                        head_timeout: self.limits.head,
                        deadline: None,
                        _ticket: ticket,
                    };
                    return Ok((guarded, local, remote, scheme));
                }
                Err(reason) => {
                    tracing::warn!(source = ?source, reason, "connection refused with 503");
                    let answer = refusal(reason);
                    // Answered off the accept loop, bounded: a peer that does not read cannot
                    // hold it up.
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(Duration::from_secs(1), async {
                            let _ = io.write_all(&answer).await;
                            let _ = io.shutdown().await;
                        })
                        .await;
                    });
                }
            }
        }
    }
}

/// A connection with its limits: the idle timeout (on the socket), the head deadline (here),
/// and its place in the connection counts (released when it is dropped).
pub struct Guarded {
    inner: Pin<Box<dyn Transport>>,
    head: HeadWatch,
    head_timeout: Duration,
    /// When the request head being read must be complete.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    _ticket: Ticket,
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Some(deadline) = self.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request head did not arrive in time",
            )));
        }
        let before = buf.filled().len();
        let polled = self.inner.as_mut().poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &polled {
            let was_in_head = self.head.in_head();
            let read = buf.filled()[before..].to_vec();
            self.head.feed(&read);
            match (was_in_head, self.head.in_head()) {
                (false, true) => {
                    let timeout = self.head_timeout;
                    self.deadline = Some(Box::pin(tokio::time::sleep(timeout)));
                    // Registers the waker: the deadline ends the read even if nothing comes.
                    if let Some(deadline) = self.deadline.as_mut() {
                        let _ = deadline.as_mut().poll(cx);
                    }
                }
                (true, false) => self.deadline = None,
                _ => {}
            }
        }
        polled
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.inner.as_mut().poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
