//! A minimal HTTP/1.1 client for load: one keep-alive connection per sender, requests written
//! from prepared bytes, responses read just enough to know their status. It costs the shared
//! cores far less than a general client, so the server gets most of the machine.

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Bytes in `buf` already read from the socket.
    filled: usize,
}

/// A request: everything up to and including the blank line, then the body.
pub struct Request<'a> {
    pub head: &'a [u8],
    pub body: &'a [u8],
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Conn {
            stream,
            buf: vec![0; 16 * 1024],
            filled: 0,
        })
    }

    /// Sends one request and reads its response; returns the status and the body.
    pub async fn call(&mut self, request: Request<'_>) -> io::Result<(u16, Vec<u8>)> {
        if request.body.len() < 32 * 1024 {
            // One write, one TCP segment train: the server sees the request at once.
            let mut whole = Vec::with_capacity(request.head.len() + request.body.len());
            whole.extend_from_slice(request.head);
            whole.extend_from_slice(request.body);
            self.stream.write_all(&whole).await?;
        } else {
            self.stream.write_all(request.head).await?;
            self.stream.write_all(request.body).await?;
        }
        self.read_response().await
    }

    async fn read_response(&mut self) -> io::Result<(u16, Vec<u8>)> {
        let head_end = loop {
            if let Some(end) = find(&self.buf[..self.filled], b"\r\n\r\n") {
                break end + 4;
            }
            self.fill().await?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| bad("response head is not UTF-8"))?;
        let status: u16 = head
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no status line"))?;
        let length = head
            .split("\r\n")
            .find_map(|line| {
                let (name, value) = line.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse::<usize>().ok())?
            })
            .ok_or_else(|| bad("response without Content-Length"))?;
        while self.filled < head_end + length {
            self.fill().await?;
        }
        let body = self.buf[head_end..head_end + length].to_vec();
        self.buf.copy_within(head_end + length..self.filled, 0);
        self.filled -= head_end + length;
        Ok((status, body))
    }

    async fn fill(&mut self) -> io::Result<()> {
        if self.filled == self.buf.len() {
            self.buf.resize(self.buf.len() * 2, 0);
        }
        let n = self.stream.read(&mut self.buf[self.filled..]).await?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        self.filled += n;
        Ok(())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// The head of a request with the given extra header lines (each ending in `\r\n`).
pub fn head(method: &str, path: &str, headers: &str, body_len: usize) -> Vec<u8> {
    format!(
        "{method} {path} HTTP/1.1\r\nhost: bench\r\ncontent-length: {body_len}\r\n{headers}\r\n"
    )
    .into_bytes()
}
