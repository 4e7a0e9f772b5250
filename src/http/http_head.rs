//! Where HTTP/1.1 requests begin and end on a connection, read from the bytes as they arrive:
//! enough to know when a request head is being read (so its deadline can run) and when it is
//! complete, across keep-alive requests and their bodies (`Content-Length` or chunked). It
//! does not judge the request: hyper does. Pure, no I/O.

/// Heads longer than this are not kept whole for reading their framing headers (hyper refuses
/// them anyway); the end of the head is still found.
const MAX_KEPT_HEAD: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct HeadWatch {
    state: State,
}

#[derive(Debug, Default)]
enum State {
    /// Between requests: the next byte starts a head.
    #[default]
    Idle,
    /// Reading a head; `kept` holds its start, to read its framing from.
    Head {
        kept: Vec<u8>,
        seen: usize,
        tail: u32,
    },
    /// Reading a body of a known length.
    Body(u64),
    /// Reading a chunked body.
    Chunked(Chunk),
    /// Not HTTP/1 (an HTTP/2 preface) or framing it cannot follow: nothing more is tracked.
    Untracked,
}

#[derive(Debug, Clone, Copy)]
enum Chunk {
    /// The chunk-size line: its size so far, and whether extensions started.
    Size {
        size: u64,
        digits: bool,
        ext: bool,
        cr: bool,
    },
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd {
        cr: bool,
    },
    /// Trailer lines after the last chunk; `empty` while the current line has no bytes.
    Trailers {
        empty: bool,
        cr: bool,
    },
}

impl HeadWatch {
    /// Whether a request head has begun and is not complete.
    pub fn in_head(&self) -> bool {
        matches!(self.state, State::Head { .. })
    }

    /// Takes the next bytes read from the connection.
    pub fn feed(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let used = self.step(bytes);
            bytes = &bytes[used..];
        }
    }

    /// Consumes some of `bytes` and returns how many; none only when a head begins (the next
    /// step reads it).
    fn step(&mut self, bytes: &[u8]) -> usize {
        match &mut self.state {
            State::Untracked => bytes.len(),
            State::Idle => {
                self.state = State::Head {
                    kept: Vec::new(),
                    seen: 0,
                    tail: 0,
                };
                0
            }
            State::Head { kept, seen, tail } => {
                for (i, &b) in bytes.iter().enumerate() {
                    *seen += 1;
                    if kept.len() < MAX_KEPT_HEAD {
                        kept.push(b);
                    }
                    // The last bytes, to spot the blank line that ends the head: lines end in
                    // CRLF or, as hyper also takes them, in a bare LF. Missing the bare form
                    // would leave the watch inside a "head" that hyper has long answered.
                    *tail = (*tail << 8) | u32::from(b);
                    if *seen == 3 && kept.starts_with(b"PRI") {
                        self.state = State::Untracked;
                        return i + 1;
                    }
                    let blank_line = *tail & 0xFFFF == u32::from(u16::from_be_bytes(*b"\n\n"))
                        || *tail & 0x00FF_FFFF == u32::from_be_bytes(*b"\0\n\r\n");
                    if blank_line {
                        let head = std::mem::take(kept);
                        self.state = after_head(&head);
                        return i + 1;
                    }
                }
                bytes.len()
            }
            State::Body(remaining) => {
                let used = (*remaining).min(bytes.len() as u64);
                *remaining -= used;
                if *remaining == 0 {
                    self.state = State::Idle;
                }
                used as usize
            }
            State::Chunked(chunk) => {
                let (used, next) = chunk_step(*chunk, bytes);
                self.state = match next {
                    Some(chunk) => State::Chunked(chunk),
                    None => State::Idle,
                };
                used
            }
        }
    }
}

/// What follows a complete head: its body, by its framing headers.
fn after_head(head: &[u8]) -> State {
    let text = String::from_utf8_lossy(head);
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for line in text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .skip(1)
    {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("content-length") {
            match value.parse::<u64>() {
                Ok(n) => length = Some(n),
                // hyper refuses it; nothing after it can be followed.
                Err(_) => return State::Untracked,
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            if !chunked {
                return State::Untracked;
            }
        }
    }
    match (chunked, length) {
        (true, _) => State::Chunked(Chunk::Size {
            size: 0,
            digits: false,
            ext: false,
            cr: false,
        }),
        (false, Some(n)) if n > 0 => State::Body(n),
        _ => State::Idle,
    }
}

/// One step through a chunked body; the next chunk state, or None at its end.
fn chunk_step(chunk: Chunk, bytes: &[u8]) -> (usize, Option<Chunk>) {
    match chunk {
        Chunk::Data(remaining) => {
            let used = remaining.min(bytes.len() as u64);
            let left = remaining - used;
            let next = if left == 0 {
                Chunk::DataEnd { cr: false }
            } else {
                Chunk::Data(left)
            };
            (used as usize, Some(next))
        }
        Chunk::Size {
            mut size,
            mut digits,
            mut ext,
            mut cr,
        } => {
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    b'\n' if cr => {
                        let next = if !digits {
                            return (i + 1, None);
                        } else if size == 0 {
                            Chunk::Trailers {
                                empty: true,
                                cr: false,
                            }
                        } else {
                            Chunk::Data(size)
                        };
                        return (i + 1, Some(next));
                    }
                    b'\r' => cr = true,
                    _ if ext => {}
                    b';' => ext = true,
                    _ => match (b as char).to_digit(16) {
                        Some(d) => {
                            digits = true;
                            size = size.saturating_mul(16).saturating_add(u64::from(d));
                        }
                        // Not a chunk size: hyper will refuse the request.
                        None => return (bytes.len(), None),
                    },
                }
            }
            (
                bytes.len(),
                Some(Chunk::Size {
                    size,
                    digits,
                    ext,
                    cr,
                }),
            )
        }
        Chunk::DataEnd { cr } => match bytes[0] {
            b'\r' if !cr => (1, Some(Chunk::DataEnd { cr: true })),
            b'\n' => (
                1,
                Some(Chunk::Size {
                    size: 0,
                    digits: false,
                    ext: false,
                    cr: false,
                }),
            ),
            _ => (1, None),
        },
        Chunk::Trailers { mut empty, mut cr } => {
            for (i, &b) in bytes.iter().enumerate() {
                match b {
                    b'\n' if cr && empty => return (i + 1, None),
                    b'\n' => {
                        empty = true;
                        cr = false;
                    }
                    b'\r' => cr = true,
                    _ => {
                        empty = false;
                        cr = false;
                    }
                }
            }
            (bytes.len(), Some(Chunk::Trailers { empty, cr }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(parts: &[&[u8]]) -> HeadWatch {
        let mut w = HeadWatch::default();
        for p in parts {
            w.feed(p);
        }
        w
    }

    #[test]
    fn a_head_is_open_from_its_first_byte_until_the_blank_line() {
        let mut w = HeadWatch::default();
        assert!(!w.in_head());
        w.feed(b"GET / HTTP/1.1\r\n");
        assert!(w.in_head());
        w.feed(b"Host: x\r");
        assert!(w.in_head());
        w.feed(b"\n\r\n");
        assert!(!w.in_head(), "complete, no body");
        w.feed(b"P");
        assert!(w.in_head(), "the next request began");
    }

    #[test]
    fn a_body_of_known_length_is_not_a_head() {
        let w = fed(&[b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", b"c"]);
        assert!(!w.in_head());
        let w = fed(&[b"POST / HTTP/1.1\r\ncontent-length: 5\r\n\r\nabcde", b"G"]);
        assert!(w.in_head(), "after the body, a new head");
        let w = fed(&[b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcdeGET / HTTP/1.1\r\n\r\n"]);
        assert!(!w.in_head(), "pipelined: both read");
    }

    #[test]
    fn chunked_bodies_are_followed_to_their_end() {
        let w = fed(&[
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"5;ext=1\r\nhel",
            b"lo\r\n0\r\n",
        ]);
        assert!(!w.in_head(), "inside the trailers");
        let w = fed(&[
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nA\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n",
            b"GET",
        ]);
        assert!(w.in_head(), "a new head after the body");
    }

    #[test]
    fn a_head_of_bare_line_feeds_ends_too_and_the_next_head_is_watched() {
        let mut w = fed(&[b"GET / HTTP/1.1\nHost: x\n\n"]);
        assert!(!w.in_head(), "hyper answers it: it is complete");
        w.feed(b"GET / HTTP/1.1\r\n");
        assert!(w.in_head(), "the next head has its deadline");
        let w = fed(&[b"POST / HTTP/1.1\nContent-Length: 3\n\nab"]);
        assert!(!w.in_head(), "inside its body");
        let w = fed(&[b"GET / HTTP/1.1\r\nHost: x\n\r\n"]);
        assert!(!w.in_head(), "mixed line ends");
    }

    #[test]
    fn http2_is_not_followed() {
        let w = fed(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"anything"]);
        assert!(!w.in_head());
    }
}
