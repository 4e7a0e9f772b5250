//! The text log's one line per event, whatever a field holds: a value that came from outside
//! (an identity provider's e-mail claim, a remote's answer, a delivery's event type) could
//! otherwise carry a line feed and write a forged line of its own, or a carriage return that
//! hides the real one on a terminal. The writer below escapes every control character of an
//! event except its final line feed (and, on a colour terminal, the formatter's own escape
//! sequences), so escaping does not depend on each call site remembering to. The JSON log
//! needs none of this: JSON strings escape their control characters.

use std::io::{self, Write};

use tracing_subscriber::fmt::MakeWriter;

/// Writes events to stderr with their control characters escaped.
#[derive(Debug, Clone, Copy)]
pub struct EscapedStderr {
    /// The formatter colours its own output (a terminal): its ESC bytes are kept.
    pub ansi: bool,
}

impl<'a> MakeWriter<'a> for EscapedStderr {
    type Writer = Escaping<io::Stderr>;

    fn make_writer(&'a self) -> Self::Writer {
        Escaping {
            inner: io::stderr(),
            ansi: self.ansi,
        }
    }
}

/// A writer that escapes control characters in each buffer it is handed (the formatter hands
/// it one whole event at a time).
pub struct Escaping<W> {
    inner: W,
    ansi: bool,
}

/// `text` with every control character but a final line feed written as `\n`, `\r`, `\t` or
/// `\u{1b}`; ESC kept when `ansi`.
pub fn escape_line(text: &str, ansi: bool) -> String {
    let (body, end) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (text, ""),
    };
    let mut out = String::with_capacity(text.len() + 8);
    for c in body.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{1b}' if ansi => out.push(c),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push_str(end);
    out
}

impl<W: Write> Write for Escaping<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.inner
            .write_all(escape_line(&text, self.ansi).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forged_line_stays_inside_its_own() {
        let line = "INFO signed in with SSO actor=ann@example.com\nERROR admin token leaked\n";
        assert_eq!(
            escape_line(line, false),
            "INFO signed in with SSO actor=ann@example.com\\nERROR admin token leaked\n"
        );
        assert_eq!(
            escape_line("a\rb\u{1b}[2Kc\u{2028}", false),
            "a\\rb\\u{1b}[2Kc\\u{2028}"
        );
        assert_eq!(
            escape_line("\u{1b}[32mINFO\u{1b}[0m x\n", true),
            "\u{1b}[32mINFO\u{1b}[0m x\n"
        );
    }

    #[test]
    fn the_writer_escapes_what_it_is_handed() {
        let mut out = Escaping {
            inner: Vec::new(),
            ansi: false,
        };
        out.write_all(b"one\ntwo\n").expect("write");
        assert_eq!(out.inner, b"one\\ntwo\n");
    }
}
