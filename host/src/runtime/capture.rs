//! A guest's stdout or stderr: a bounded in-memory pipe that the host drains after each call.
//!
//! Like wasmtime-wasi's `MemoryOutputPipe` (whose bytes can only be copied,
//! never taken), with two differences a kept instance needs: `drain` empties
//! it after a call, so the next call on the same instance starts with its
//! whole `max_output_bytes`; and it remembers that a write overflowed it
//! until the next drain, which is how a call's output breach is told.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

#[derive(Default)]
struct Buffer {
    bytes: BytesMut,
    /// A write was refused for want of room since the last drain.
    overflowed: bool,
}

/// One captured stream; clones share the buffer.
#[derive(Clone)]
pub(super) struct CapturePipe {
    capacity: usize,
    buffer: Arc<Mutex<Buffer>>,
}

impl CapturePipe {
    pub(super) fn new(capacity: usize) -> Self {
        CapturePipe {
            capacity,
            buffer: Arc::default(),
        }
    }

    /// Takes what was written since the last drain, and whether it overflowed.
    pub(super) fn drain(&self) -> (Bytes, bool) {
        let mut b = self.buffer.lock().expect("capture lock");
        let overflowed = std::mem::take(&mut b.overflowed);
        (b.bytes.split().freeze(), overflowed)
    }

    fn room(&self) -> usize {
        let b = self.buffer.lock().expect("capture lock");
        self.capacity.saturating_sub(b.bytes.len())
    }
}

#[wasmtime_wasi::async_trait]
impl OutputStream for CapturePipe {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        let mut b = self.buffer.lock().expect("capture lock");
        if bytes.len() > self.capacity.saturating_sub(b.bytes.len()) {
            b.overflowed = true;
            return Err(StreamError::Trap(wasmtime::format_err!(
                "write beyond the output capture of {} bytes",
                self.capacity
            )));
        }
        b.bytes.extend_from_slice(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        match self.room() {
            0 => {
                self.buffer.lock().expect("capture lock").overflowed = true;
                Err(StreamError::Closed)
            }
            n => Ok(n),
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturePipe {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CapturePipe {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut b = self.buffer.lock().expect("capture lock");
        let n = buf.len().min(self.capacity.saturating_sub(b.bytes.len()));
        if n < buf.len() {
            b.overflowed = true;
        }
        b.bytes.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CapturePipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturePipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drains_and_tells_an_overflow_once() {
        let mut p = CapturePipe::new(4);
        p.write(Bytes::from_static(b"abc")).unwrap();
        assert!(p.write(Bytes::from_static(b"de")).is_err());
        assert_eq!(p.drain(), (Bytes::from_static(b"abc"), true));
        // The next call on the same instance has the whole capacity again.
        assert_eq!(p.check_write().ok(), Some(4));
        p.write(Bytes::from_static(b"wxyz")).unwrap();
        assert_eq!(p.check_write().ok(), None);
        assert_eq!(p.drain(), (Bytes::from_static(b"wxyz"), true));
    }
}
