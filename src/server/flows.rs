//! Outbound SIP connections ("flows", RFC 5626) of `[[trunk]]`s that
//! register over TCP or TLS: opens the connection (TLS: rustls client, the
//! server's certificate checked), then serves it exactly like an accepted
//! inbound connection of [`super::sip_io`] — messages framed by
//! [`StreamFramer`] go to the same input path, so a call the registrar sends
//! back over the flow is handled like any other and answered on it — plus
//! RFC 5626 §4.4.1 CRLF keep-alive pings.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::sip_io::{forward_frames, StreamInput, MAX_MESSAGE};
use crate::sip::framing::StreamFramer;

/// What the trunks ask to be opened.
pub struct FlowRequest {
    /// The trunk's index (handed back in [`StreamInput::FlowUp`] / `FlowFailed`).
    pub entry: usize,
    pub dest: SocketAddr,
    /// TLS: the client configuration and the name to verify.
    pub tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    /// Seconds between CRLF keep-alive pings.
    pub keepalive: Option<Duration>,
}

/// How long connecting (TCP + TLS handshake) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a pong may take once the peer has shown it answers pings.
const PONG_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects in its own task; reports `FlowFailed`, or `Opened` + `FlowUp`
/// and later `FlowDown` when the connection ends.
pub(super) fn spawn_connect(req: FlowRequest, id: u64, tx: mpsc::UnboundedSender<StreamInput>) {
    tokio::spawn(async move {
        let entry = req.entry;
        let dest = req.dest;
        let tcp = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(dest)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let reason = format!("cannot connect to {dest}: {e}");
                let _ = tx.send(StreamInput::FlowFailed { entry, reason, permanent: false });
                return;
            }
            Err(_) => {
                let reason = format!("cannot connect to {dest}: timed out");
                let _ = tx.send(StreamInput::FlowFailed { entry, reason, permanent: false });
                return;
            }
        };
        let _ = tcp.set_nodelay(true);
        let local = match tcp.local_addr() {
            Ok(a) => a,
            Err(e) => {
                let reason = format!("connection to {dest}: no local address: {e}");
                let _ = tx.send(StreamInput::FlowFailed { entry, reason, permanent: false });
                return;
            }
        };
        match req.tls {
            None => serve_flow(tcp, dest, local, id, false, entry, req.keepalive, tx).await,
            Some((connector, name)) => {
                let shown = name.to_str().into_owned();
                match tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp)).await {
                    Ok(Ok(s)) => serve_flow(s, dest, local, id, true, entry, req.keepalive, tx).await,
                    Ok(Err(e)) => {
                        let permanent = super::tls::is_certificate_error(&e);
                        let hint = if permanent { " (check the trunk's tls_ca and tls_server_name)" } else { "" };
                        let reason = format!("TLS handshake with {dest} as {shown:?} failed: {e}{hint}");
                        let _ = tx.send(StreamInput::FlowFailed { entry, reason, permanent });
                    }
                    Err(_) => {
                        let reason = format!("TLS handshake with {dest} timed out");
                        let _ = tx.send(StreamInput::FlowFailed { entry, reason, permanent: false });
                    }
                }
            }
        }
    });
}

/// Reads messages off the flow into the SIP input, writes what is sent to it
/// and pings it; reports `FlowDown` with the reason when it ends.
#[allow(clippy::too_many_arguments)]
async fn serve_flow<S>(
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    id: u64,
    tls: bool,
    entry: usize,
    keepalive: Option<Duration>,
    tx: mpsc::UnboundedSender<StreamInput>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, mut wr) = tokio::io::split(stream);
    let (wtx, mut wrx) = mpsc::unbounded_channel::<Vec<u8>>();
    if tx.send(StreamInput::Opened(id, wtx, tls)).is_err() || tx.send(StreamInput::FlowUp { entry, id, local }).is_err()
    {
        return;
    }
    let mut framer = StreamFramer::new(MAX_MESSAGE);
    let mut buf = vec![0u8; 16 * 1024];
    let far = Instant::now() + Duration::from_secs(86_400 * 365);
    let mut next_ping = keepalive.map_or(far, |k| Instant::now() + k);
    // The ping awaiting an answer, and whether this peer answers pings at all.
    let mut ping_sent: Option<Instant> = None;
    let mut answers_pings = false;
    let reason = loop {
        let pong_deadline = ping_sent.map_or(far, |t| t + PONG_TIMEOUT);
        tokio::select! {
            r = rd.read(&mut buf) => {
                let n = match r {
                    Ok(0) => break "closed by the server".to_string(),
                    Err(e) => break format!("read error: {e}"),
                    Ok(n) => n,
                };
                // A pong is a lone CRLF; any traffic shows the flow is alive.
                if ping_sent.take().is_some() && buf[..n] == *b"\r\n" {
                    answers_pings = true;
                }
                framer.push(&buf[..n]);
                if let Err(e) = forward_frames(&mut framer, &tx, id, peer) {
                    break format!("unreadable SIP stream: {e}");
                }
            }
            m = wrx.recv() => {
                let Some(b) = m else { break "closed".to_string() };
                if let Err(e) = async { wr.write_all(&b).await?; wr.flush().await }.await {
                    break format!("write error: {e}");
                }
            }
            _ = tokio::time::sleep_until(next_ping) => {
                // RFC 5626 §4.4.1: a double CRLF; the answer is a single CRLF.
                if let Err(e) = async { wr.write_all(b"\r\n\r\n").await?; wr.flush().await }.await {
                    break format!("write error: {e}");
                }
                if ping_sent.is_none() {
                    ping_sent = Some(Instant::now());
                }
                next_ping = keepalive.map_or(far, |k| Instant::now() + k);
            }
            _ = tokio::time::sleep_until(pong_deadline) => {
                ping_sent = None;
                if answers_pings {
                    break format!("no keep-alive pong within {} s", PONG_TIMEOUT.as_secs());
                }
            }
        }
    };
    let _ = wr.shutdown().await;
    let _ = tx.send(StreamInput::FlowDown(id, reason));
}
