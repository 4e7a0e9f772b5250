//! A connection that is TLS once its handshake is done. The handshake runs inside the
//! connection's own task (on its first read or write), never in the accept loop, so a client
//! that stalls mid-handshake holds up nobody else; it is bounded by a deadline of its own.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_rustls::server::TlsStream;

type Handshake<T> = Pin<Box<dyn Future<Output = io::Result<TlsStream<T>>> + Send>>;

enum State<T> {
    Handshaking(Handshake<T>),
    Ready(Box<TlsStream<T>>),
    Failed,
}

pub struct TlsConnection<T> {
    state: State<T>,
}

impl<T> TlsConnection<T>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    pub fn new(io: T, config: Arc<rustls::ServerConfig>, deadline: Duration) -> Self {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let handshake = async move {
            match tokio::time::timeout(deadline, acceptor.accept(io)).await {
                Ok(done) => done,
                Err(_) => Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the TLS handshake did not finish in time",
                )),
            }
        };
        TlsConnection {
            state: State::Handshaking(Box::pin(handshake)),
        }
    }
}

impl<T> TlsConnection<T>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    /// The connection once the handshake is done; Pending while it runs.
    fn ready(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&mut TlsStream<T>>> {
        if let State::Handshaking(handshake) = &mut self.state {
            match handshake.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(stream)) => self.state = State::Ready(Box::new(stream)),
                Poll::Ready(Err(e)) => {
                    self.state = State::Failed;
                    tracing::debug!(error = %e, "TLS handshake failed");
                    return Poll::Ready(Err(e));
                }
            }
        }
        match &mut self.state {
            State::Ready(stream) => Poll::Ready(Ok(stream)),
            _ => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the TLS handshake failed",
            ))),
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncRead for TlsConnection<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_read(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TlsConnection<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_write(cx, buf),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.ready(cx) {
            Poll::Ready(Ok(stream)) => Pin::new(stream).poll_flush(cx),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            State::Ready(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
            // Nothing was said over TLS yet: dropping the socket is the shutdown.
            _ => Poll::Ready(Ok(())),
        }
    }
}
