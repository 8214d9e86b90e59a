//! What one client may hold of the server (`[http]`): the limits, a write
//! deadline on each connection (`TimedIo`: a response that makes no progress
//! for `write_timeout` fails, and its connection and buffers go), the
//! connection cap cut to the process's file-descriptor limit, and the pause
//! after failed `accept`s (`Backoff`: never a busy loop).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use crate::config::HttpConfig;

/// File descriptors kept for everything but client connections (KMS
/// sockets, the audit log, the process's own files).
pub const FD_RESERVE: usize = 64;

/// Limits of the HTTP server.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub body_read_timeout: Duration,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub write_timeout: Duration,
    pub max_concurrent_renders: usize,
    pub accept_backoff_max: Duration,
}

impl From<&HttpConfig> for Limits {
    fn from(c: &HttpConfig) -> Self {
        Limits {
            header_read_timeout: c.header_read_timeout,
            max_header_bytes: c.max_header_bytes,
            body_read_timeout: c.body_read_timeout,
            max_body_bytes: c.max_body_bytes,
            max_connections: c.max_connections,
            write_timeout: c.write_timeout,
            max_concurrent_renders: c.max_concurrent_renders,
            accept_backoff_max: c.accept_backoff_max,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&HttpConfig::default())
    }
}

/// The soft limit of open files of this process (`/proc/self/limits`), if
/// it can be read.
fn open_files_limit() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// `wanted` connections, cut so that they and `FD_RESERVE` fit in the
/// process's file-descriptor limit (logged when cut).
pub fn connection_cap(wanted: usize) -> usize {
    let Some(limit) = open_files_limit() else {
        return wanted;
    };
    let fits = limit.saturating_sub(FD_RESERVE).max(8);
    if fits < wanted {
        tracing::warn!(
            http.max_connections = wanted,
            open_files_limit = limit,
            cap = fits,
            "http.max_connections cut to fit the open-files limit"
        );
        fits
    } else {
        wanted
    }
}

/// The pause after failed `accept`s: 5ms doubling up to a maximum, back to
/// none after a success.
#[derive(Debug)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(5);

    pub fn new(max: Duration) -> Self {
        Backoff {
            next: Self::FIRST,
            max,
        }
    }

    /// The pause before the next `accept`, after a failure.
    pub fn failed(&mut self) -> Duration {
        let d = self.next.min(self.max);
        self.next = (self.next * 2).min(self.max);
        d
    }

    pub fn succeeded(&mut self) {
        self.next = Self::FIRST;
    }
}

/// A connection whose writes fail after `limit` without progress.
#[derive(Debug)]
pub struct TimedIo<T> {
    inner: T,
    limit: Duration,
    stall: Option<Pin<Box<Sleep>>>,
}

impl<T> TimedIo<T> {
    pub fn new(inner: T, limit: Duration) -> Self {
        TimedIo {
            inner,
            limit,
            stall: None,
        }
    }

    /// The write is pending: fail once it has been for `limit`.
    fn stalled<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let limit = self.limit;
        let sleep = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.stall = None;
                Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the client read nothing within http.write_timeout",
                )))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn done<R>(&mut self, r: Poll<io::Result<R>>, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        match r {
            Poll::Ready(r) => {
                self.stall = None;
                Poll::Ready(r)
            }
            Poll::Pending => self.stalled(cx),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for TimedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for TimedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.done(r, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.done(r, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        this.done(r, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.done(r, cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[test]
    fn the_backoff_doubles_to_its_maximum_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(50));
        let got: Vec<u128> = (0..6).map(|_| b.failed().as_millis()).collect();
        assert_eq!(got, [5, 10, 20, 40, 50, 50]);
        b.succeeded();
        assert_eq!(b.failed(), Duration::from_millis(5));
    }

    #[test]
    fn the_open_files_limit_is_read() {
        let n = open_files_limit().expect("Linux has /proc/self/limits");
        assert!(n >= 64, "{n}");
        assert!(connection_cap(usize::MAX) <= n);
        assert_eq!(connection_cap(8), 8);
    }

    #[tokio::test]
    async fn a_write_the_peer_never_reads_fails_after_the_limit() {
        let limit = Duration::from_millis(200);
        // A pipe whose reader never reads: writes block once it is full.
        let (a, _b) = tokio::io::duplex(1024);
        let mut io = TimedIo::new(a, limit);
        let start = tokio::time::Instant::now();
        let err = io.write_all(&[0u8; 64 * 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        let took = start.elapsed();
        assert!(took >= limit && took < limit * 10, "{took:?}");
        // A reader keeps it going, however long the whole write takes.
        let (a, mut b) = tokio::io::duplex(1024);
        let mut io = TimedIo::new(a, limit);
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            tokio::io::AsyncReadExt::read_to_end(&mut b, &mut sink)
                .await
                .unwrap();
            sink.len()
        });
        io.write_all(&[1u8; 64 * 1024]).await.unwrap();
        io.shutdown().await.unwrap();
        drop(io);
        assert_eq!(reader.await.unwrap(), 64 * 1024);
    }
}
