//! Connections that go silent are closed: a sender that stops halfway through its headers or
//! body (or an idle keep-alive connection) cannot hold a connection open forever.
//!
//! poem's own idle timeout starts a graceful shutdown of the connection, which waits for the
//! request that is half read; a read timeout on the socket ends it.

use std::io;
use std::pin::Pin;
use std::time::Duration;

use poem::http::uri::Scheme;
use poem::listener::Acceptor;
use poem::web::{LocalAddr, RemoteAddr};
use tokio_io_timeout::TimeoutStream;

pub struct SilenceTimeout<A> {
    inner: A,
    timeout: Duration,
}

impl<A> SilenceTimeout<A> {
    pub fn new(inner: A, timeout: Duration) -> Self {
        SilenceTimeout { inner, timeout }
    }
}

impl<A: Acceptor> Acceptor for SilenceTimeout<A> {
    type Io = Pin<Box<TimeoutStream<A::Io>>>;

    fn local_addr(&self) -> Vec<LocalAddr> {
        self.inner.local_addr()
    }

    async fn accept(&mut self) -> io::Result<(Self::Io, LocalAddr, RemoteAddr, Scheme)> {
        let (io, local, remote, scheme) = self.inner.accept().await?;
        let mut stream = TimeoutStream::new(io);
        // Every read or write that waits longer than this fails, and hyper drops the
        // connection. Handlers never wait this long (storage gives up after 5 s, outbound
        // calls after 10 s), so only silent peers are affected.
        stream.set_read_timeout(Some(self.timeout));
        stream.set_write_timeout(Some(self.timeout));
        Ok((Box::pin(stream), local, remote, scheme))
    }
}
