//! TCP for the distribution tree: the listeners (one per address family the
//! node listens on), and one task per connection
//! that turns the byte stream into whole frames (never assuming one read is
//! one frame) and writes length-prefixed frames. The tasks only move bytes;
//! the protocol decides everything.

use core::net::SocketAddr;
use core::task::Poll;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::protocol::ConnId;
use crate::wire::{FrameReader, length_prefix};

use super::error::NodeError;
use super::udp::Listen;

/// What a connection task reports to the driver.
#[derive(Debug)]
pub enum ConnMsg {
    /// An outbound connect succeeded; frames for it go to this sender.
    Opened(ConnId, mpsc::Sender<Vec<u8>>),
    /// A connect failed or an open connection broke.
    Failed(ConnId),
    /// The peer closed the connection.
    Closed(ConnId),
    /// One whole frame arrived.
    Frame(ConnId, Vec<u8>),
}

/// Frames queued per connection before it counts as stuck.
pub const QUEUE: usize = 64;

/// The TCP listeners: one per address the node listens on (one per
/// family), accepted from as one.
pub struct Listeners(Vec<TcpListener>);

impl Listeners {
    /// The next connection on any of them, and where it comes from.
    ///
    /// # Errors
    /// The OS's accept error.
    pub async fn accept(&self) -> std::io::Result<(TcpStream, SocketAddr)> {
        std::future::poll_fn(|cx| {
            for l in &self.0 {
                if let Poll::Ready(r) = l.poll_accept(cx) {
                    return Poll::Ready(r);
                }
            }
            Poll::Pending
        })
        .await
    }
}

/// Binds a listener on each address of `at`.
///
/// # Errors
/// [`NodeError::Socket`] naming the address that failed.
pub fn listen(at: &[Listen]) -> Result<Listeners, NodeError> {
    at.iter()
        .map(|l| listen_one(*l))
        .collect::<Result<_, _>>()
        .map(Listeners)
}

fn listen_one(at: Listen) -> Result<TcpListener, NodeError> {
    let addr = at.addr;
    let err = |what| move |source| NodeError::Socket { what, addr, source };
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))
        .map_err(err("open TCP socket for"))?;
    s.set_reuse_address(true)
        .map_err(err("set SO_REUSEADDR on"))?;
    if addr.is_ipv6() {
        s.set_only_v6(true).map_err(err("set IPV6_V6ONLY on"))?;
        if at.freebind {
            s.set_freebind_v6(true)
                .map_err(err("set IPV6_FREEBIND on"))?;
        }
    }
    s.bind(&addr.into()).map_err(err("bind TCP"))?;
    s.listen(64).map_err(err("listen on"))?;
    s.set_nonblocking(true).map_err(err("configure TCP"))?;
    TcpListener::from_std(s.into()).map_err(err("register TCP"))
}

/// Connects to `to` within `timeout` and runs the connection.
pub async fn connect(
    conn: ConnId,
    to: SocketAddr,
    timeout: Duration,
    max_frame: usize,
    report: mpsc::Sender<ConnMsg>,
) {
    match tokio::time::timeout(timeout, TcpStream::connect(to)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            let (tx, rx) = mpsc::channel(QUEUE);
            if report.send(ConnMsg::Opened(conn, tx)).await.is_ok() {
                serve(conn, stream, rx, max_frame, report).await;
            }
        }
        _ => {
            let _ = report.send(ConnMsg::Failed(conn)).await;
        }
    }
}

/// Runs an open connection until it ends, reporting frames and the end.
pub async fn serve(
    conn: ConnId,
    stream: TcpStream,
    mut outgoing: mpsc::Receiver<Vec<u8>>,
    max_frame: usize,
    report: mpsc::Sender<ConnMsg>,
) {
    let (mut rd, mut wr) = stream.into_split();
    let reader_report = report.clone();
    let mut reader = tokio::spawn(async move {
        let mut frames = FrameReader::new(max_frame);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match rd.read(&mut buf).await {
                Ok(0) => return ConnMsg::Closed(conn),
                Ok(n) => n,
                Err(_) => return ConnMsg::Failed(conn),
            };
            frames.push(buf.get(..n).unwrap_or(&[]));
            loop {
                match frames.next_frame() {
                    Ok(Some(f)) => {
                        if reader_report.send(ConnMsg::Frame(conn, f)).await.is_err() {
                            return ConnMsg::Closed(conn);
                        }
                    }
                    Ok(None) => break,
                    // An oversized length: close the connection.
                    Err(_) => return ConnMsg::Failed(conn),
                }
            }
        }
    });
    let end = loop {
        tokio::select! {
            end = &mut reader => break end.unwrap_or(ConnMsg::Failed(conn)),
            out = outgoing.recv() => match out {
                Some(bytes) => {
                    let prefix = length_prefix(bytes.len());
                    let ok = wr.write_all(&prefix).await.is_ok() && wr.write_all(&bytes).await.is_ok();
                    if !ok {
                        reader.abort();
                        break ConnMsg::Failed(conn);
                    }
                }
                // The driver dropped the sender: close.
                None => {
                    let _ = wr.shutdown().await;
                    reader.abort();
                    return;
                }
            },
        }
    };
    let _ = report.send(end).await;
}
