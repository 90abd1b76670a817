use std::io::{self, Read};
use std::path::Path;

use crate::SourceError;

/// Reads lines straight out of one large buffer: no copy per line, and no per-line memchr
/// from the standard library (which is not vectorised). Memory is bounded by the buffer
/// size or the longest line, whichever is larger.
pub(crate) struct LineReader<R> {
    input: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
    /// Physical lines returned so far, blank ones included.
    line_no: u64,
}

impl<R: Read> LineReader<R> {
    pub(crate) fn new(input: R, capacity: usize) -> Self {
        Self {
            input,
            buf: vec![0; capacity.max(64)],
            start: 0,
            end: 0,
            eof: false,
            line_no: 0,
        }
    }

    /// The next line that is not blank, with its physical line number (1-based, blank lines
    /// counted); `None` at the end of the input. Every line-oriented source reads this way,
    /// so that line numbers in errors and the lines counted agree across formats.
    pub(crate) fn next_record(&mut self, path: &Path) -> Result<Option<(u64, &[u8])>, SourceError> {
        loop {
            let range = self.next_range().map_err(|source| SourceError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let Some((from, to)) = range else {
                return Ok(None);
            };
            self.line_no += 1;
            if !self.buf[from..to].iter().all(u8::is_ascii_whitespace) {
                return Ok(Some((self.line_no, &self.buf[from..to])));
            }
        }
    }

    /// The next line without its `\n` or `\r\n`; `None` at the end of the input. A last
    /// line without a final newline is still a line.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        Ok(self.next_range()?.map(|(from, to)| &self.buf[from..to]))
    }

    /// Where the next line lies in the buffer, without its `\n` or `\r\n`.
    fn next_range(&mut self) -> io::Result<Option<(usize, usize)>> {
        loop {
            if let Some(p) = memchr::memchr(b'\n', &self.buf[self.start..self.end]) {
                let line_start = self.start;
                self.start += p + 1;
                return Ok(Some(trim_cr(&self.buf, line_start, line_start + p)));
            }
            if self.eof {
                if self.start < self.end {
                    let line_start = self.start;
                    self.start = self.end;
                    return Ok(Some(trim_cr(&self.buf, line_start, self.end)));
                }
                return Ok(None);
            }
            // Keep the partial line, make room, read more.
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let grown = self.buf.len() * 2;
                self.buf.resize(grown, 0);
            }
            let n = loop {
                match self.input.read(&mut self.buf[self.end..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e),
                }
            };
            if n == 0 {
                self.eof = true;
            }
            self.end += n;
        }
    }
}

/// `from..to` without a final `\r`.
fn trim_cr(buf: &[u8], from: usize, to: usize) -> (usize, usize) {
    if to > from && buf[to - 1] == b'\r' {
        (from, to - 1)
    } else {
        (from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &[u8], cap: usize) -> Vec<Vec<u8>> {
        let mut r = LineReader::new(text, cap);
        let mut out = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            out.push(l.to_vec());
        }
        out
    }

    #[test]
    fn lines_across_buffer_refills_crlf_and_no_final_newline() {
        let text = b"alpha\r\nbeta\n\nsome much longer line than the buffer\nlast";
        for cap in [1, 3, 7, 64, 4096] {
            let got = all(text, cap);
            let want: Vec<&[u8]> = vec![
                b"alpha",
                b"beta",
                b"",
                b"some much longer line than the buffer",
                b"last",
            ];
            assert_eq!(got, want, "capacity {cap}");
        }
        assert!(all(b"", 16).is_empty());
        assert_eq!(all(b"x\n", 16), vec![b"x".to_vec()]);
    }
}
