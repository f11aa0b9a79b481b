//! Cuts SIP messages out of a byte stream (TCP), per RFC 3261 §18.3:
//! the header block ends at an empty line and Content-Length (mandatory on
//! streams) gives the body size. CRLF keep-alives (RFC 5626) are skipped.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum FramingError {
    #[error("message head larger than {0} bytes")]
    TooLarge(usize),
    #[error("stream message without a valid Content-Length")]
    NoContentLength,
}

pub struct StreamFramer {
    buf: Vec<u8>,
    max: usize,
}

impl StreamFramer {
    pub fn new(max_message: usize) -> Self {
        StreamFramer { buf: Vec::new(), max: max_message }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Next complete message, `Ok(None)` when more bytes are needed. After
    /// an error the stream cannot be resynchronised: close the connection.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FramingError> {
        let skip = self.buf.iter().take_while(|b| **b == b'\r' || **b == b'\n').count();
        self.buf.drain(..skip);
        let Some(head_end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            if self.buf.len() > self.max {
                return Err(FramingError::TooLarge(self.max));
            }
            return Ok(None);
        };
        let head = String::from_utf8_lossy(&self.buf[..head_end]);
        let len = head
            .split("\r\n")
            .find_map(|l| {
                let (n, v) = l.split_once(':')?;
                let n = n.trim();
                (n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("l"))
                    .then(|| v.trim().parse::<usize>().ok())
            })
            .flatten()
            .ok_or(FramingError::NoContentLength)?;
        let total = head_end + 4 + len;
        if total > self.max {
            return Err(FramingError::TooLarge(self.max));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let msg: Vec<u8> = self.buf.drain(..total).collect();
        Ok(Some(msg))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";

    #[test]
    fn splits_two_messages_fed_byte_by_byte() {
        let mut f = StreamFramer::new(65536);
        let mut out = Vec::new();
        let both = [MSG, b"\r\n\r\n", MSG].concat();
        for b in &both {
            f.push(&[*b]);
            while let Some(m) = f.next_message().expect("frame") {
                out.push(m);
            }
        }
        assert_eq!(out, vec![MSG.to_vec(), MSG.to_vec()]);
    }

    #[test]
    fn missing_content_length_is_an_error() {
        let mut f = StreamFramer::new(65536);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_message(), Err(FramingError::NoContentLength));
    }

    #[test]
    fn endless_head_is_rejected() {
        let mut f = StreamFramer::new(1024);
        f.push(&vec![b'a'; 2000]);
        assert_eq!(f.next_message(), Err(FramingError::TooLarge(1024)));
    }
}
