//! TCP framing, sans-IO: a 4-byte big-endian length before each frame, and
//! a reader that turns arbitrary byte pieces back into whole frames.
//!
//! A TCP read returns whatever bytes have arrived: part of a frame, several
//! frames, or the end of one and the start of the next (the original
//! assumed one read is one frame). [`FrameReader`] buffers pieces and yields
//! each frame once it is whole. A declared length above `max_frame` is an
//! error; the caller then closes the connection (the stream cannot be
//! resynchronised), and the reader keeps returning the error.

use super::error::WireError;

/// Bytes of the length prefix.
pub const PREFIX_LEN: usize = 4;

/// The length prefix of a frame of `len` bytes: `len` as u32 big-endian
/// (saturated at `u32::MAX`, which every reader refuses).
#[must_use]
pub fn length_prefix(len: usize) -> [u8; PREFIX_LEN] {
    u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()
}

/// Reassembles length-prefixed frames from a byte stream.
#[derive(Clone, Debug)]
pub struct FrameReader {
    max_frame: usize,
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out.
    start: usize,
    failed: Option<WireError>,
}

impl FrameReader {
    /// A reader refusing frames longer than `max_frame`.
    #[must_use]
    pub fn new(max_frame: usize) -> Self {
        Self {
            max_frame,
            buf: Vec::new(),
            start: 0,
            failed: None,
        }
    }

    /// Appends bytes as they arrived. Call [`FrameReader::next_frame`] until
    /// it returns `Ok(None)` after each push.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived.
    ///
    /// # Errors
    /// [`WireError::TooLong`] for a declared length above `max_frame`; the
    /// connection must be closed, and every later call fails the same way.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, WireError> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let pending = self.buf.get(self.start..).unwrap_or(&[]);
        let Some((prefix, rest)) = pending.split_first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > self.max_frame {
            let e = WireError::TooLong {
                len,
                max: self.max_frame,
            };
            self.failed = Some(e);
            self.buf = Vec::new();
            self.start = 0;
            return Err(e);
        }
        let Some(frame) = rest.get(..len) else {
            return Ok(None);
        };
        let frame = frame.to_vec();
        self.start += PREFIX_LEN + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        Ok(Some(frame))
    }

    /// Bytes buffered that are not yet a whole frame.
    #[must_use]
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_out_whole_whatever_the_pieces() {
        let mut stream = Vec::new();
        for f in [&b"one"[..], b"", b"three"] {
            stream.extend_from_slice(&length_prefix(f.len()));
            stream.extend_from_slice(f);
        }
        let mut r = FrameReader::new(100);
        let mut out = Vec::new();
        for b in &stream {
            r.push(std::slice::from_ref(b));
            while let Some(f) = r.next_frame().unwrap() {
                out.push(f);
            }
        }
        assert_eq!(out, vec![b"one".to_vec(), Vec::new(), b"three".to_vec()]);
        assert_eq!(r.buffered(), 0);
    }

    #[test]
    fn an_oversized_length_fails_for_good() {
        let mut r = FrameReader::new(10);
        r.push(&length_prefix(11));
        let e = WireError::TooLong { len: 11, max: 10 };
        assert_eq!(r.next_frame(), Err(e));
        r.push(&length_prefix(1));
        assert_eq!(r.next_frame(), Err(e));
        assert_eq!(length_prefix(usize::MAX), [0xff; 4]);
    }
}
