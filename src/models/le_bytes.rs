//! Little-endian reading of a model file held in memory (CTranslate2's
//! `model.bin`, whisper.cpp's ggml), with a clear error where it ends early.

use thiserror::Error;

#[derive(Debug, Error)]
#[error("truncated at byte {0}")]
pub struct Truncated(pub usize);

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes read so far.
    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], Truncated> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len()).ok_or(Truncated(self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    pub fn u8(&mut self) -> Result<u8, Truncated> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16, Truncated> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    pub fn u32(&mut self) -> Result<u32, Truncated> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub fn i32(&mut self) -> Result<i32, Truncated> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_says_where_the_file_ends() {
        let mut r = Reader::new(&[1, 0x34, 0x12, 0xff, 0xff, 0xff, 0xff, 9]);
        assert_eq!((r.u8().unwrap(), r.u16().unwrap(), r.i32().unwrap()), (1, 0x1234, -1));
        assert_eq!((r.pos(), r.at_end()), (7, false));
        assert_eq!(r.u32().unwrap_err().to_string(), "truncated at byte 7");
        assert_eq!(r.take(1).unwrap(), &[9]);
        assert!(r.at_end());
    }
}
