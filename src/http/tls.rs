//! The TLS side of a connection, when the web config has
//! `tls_server_config`: the handshake runs on the connection's own task,
//! inside its slot of `http.max_connections` and within
//! `http.header_read_timeout` (a client that opens a socket and says
//! nothing holds it no longer than one that sends no header). A client
//! that speaks plain HTTP to the TLS port gets a plain 400 saying so, as
//! Go's servers answer, and the connection closes.

use std::io;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use super::limits::{Limits, TimedIo};

/// The first byte of a TLS record carrying a handshake (ClientHello).
const HANDSHAKE_RECORD: u8 = 0x16;

/// The answer to plain HTTP on the TLS port.
const PLAIN_ON_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// Answer plain HTTP with `PLAIN_ON_TLS`, then read what the client sent
/// (at most `limit` bytes) until it closes, so that the close does not
/// reset the connection before the client read the answer.
async fn refuse_plain(stream: &mut TcpStream, limit: usize) -> io::Result<()> {
    stream.write_all(PLAIN_ON_TLS).await?;
    stream.shutdown().await?;
    let mut sink = [0u8; 4096];
    let mut read = 0;
    while read < limit {
        match stream.read(&mut sink).await? {
            0 => break,
            n => read += n,
        }
    }
    Ok(())
}

/// The handshake of `stream`, or why there is none.
async fn handshake(
    config: Arc<rustls::ServerConfig>,
    mut stream: TcpStream,
    limits: Limits,
) -> io::Result<TlsStream<TimedIo<TcpStream>>> {
    let mut first = [0u8; 1];
    if stream.peek(&mut first).await? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "closed before the handshake",
        ));
    }
    if first[0] != HANDSHAKE_RECORD {
        refuse_plain(&mut stream, limits.max_header_bytes).await?;
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "plain HTTP on the TLS port",
        ));
    }
    TlsAcceptor::from(config)
        .accept(TimedIo::new(stream, limits.write_timeout))
        .await
}

/// `stream` over TLS, once its handshake is done within
/// `http.header_read_timeout`; none when it failed (logged at debug: a
/// client's mistake, not the server's).
pub(super) async fn accept(
    config: Arc<rustls::ServerConfig>,
    stream: TcpStream,
    limits: Limits,
) -> Option<TlsStream<TimedIo<TcpStream>>> {
    let peer = stream.peer_addr().ok();
    match tokio::time::timeout(
        limits.header_read_timeout,
        handshake(config, stream, limits),
    )
    .await
    {
        Ok(Ok(s)) => Some(s),
        Ok(Err(e)) => {
            tracing::debug!(?peer, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::debug!(
                ?peer,
                timeout = ?limits.header_read_timeout,
                "TLS handshake not done within http.header_read_timeout"
            );
            None
        }
    }
}
