//! The node's unicast UDP sockets: one per address family it listens on
//! (an IPv4 address, an IPv6 address, or both on a dual-stack interface),
//! used as one. A datagram goes out by the socket of its destination's
//! family; datagrams come in from either.
//!
//! Send errors are where an unreachable seed shows: a seed this node has no
//! socket of its family for, or no route to, or whose send fails otherwise,
//! is a warning naming the seed (once, and again only after a send to it
//! succeeded in between). Other failed sends are debug lines: the protocol
//! retries and its liveness decides what a silent peer means.

use core::net::SocketAddr;
use core::task::Poll;
use std::collections::BTreeSet;
use std::io;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tracing::{debug, info, warn};

/// The unicast sockets, by family.
pub struct Unicast {
    v4: Option<UdpSocket>,
    v6: Option<UdpSocket>,
    /// The configured seeds (their failed sends are warnings).
    seeds: BTreeSet<SocketAddr>,
    /// Seeds warned about since their last successful send.
    warned: Mutex<BTreeSet<SocketAddr>>,
    /// Which family `recv_from` polls first (alternates, so a busy one
    /// cannot starve the other).
    v6_first: AtomicBool,
}

impl Unicast {
    /// The sockets (at most one per family: a second of a family is
    /// ignored) and the seeds.
    #[must_use]
    pub fn new(sockets: Vec<UdpSocket>, seeds: &[SocketAddr]) -> Self {
        let mut v4 = None;
        let mut v6 = None;
        for s in sockets {
            let slot = match s.local_addr() {
                Ok(a) if a.is_ipv4() => &mut v4,
                Ok(_) => &mut v6,
                Err(_) => continue,
            };
            if slot.is_none() {
                *slot = Some(s);
            }
        }
        Self {
            v4,
            v6,
            seeds: seeds.iter().copied().collect(),
            warned: Mutex::new(BTreeSet::new()),
            v6_first: AtomicBool::new(false),
        }
    }

    /// The addresses the sockets are bound to, IPv4 first.
    #[must_use]
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        [&self.v4, &self.v6]
            .into_iter()
            .flatten()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }

    fn socket_for(&self, to: SocketAddr) -> io::Result<&UdpSocket> {
        let (s, family) = if to.is_ipv4() {
            (&self.v4, "IPv4")
        } else {
            (&self.v6, "IPv6")
        };
        s.as_ref().ok_or_else(|| {
            let mine: Vec<String> = self.local_addrs().iter().map(ToString::to_string).collect();
            io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                format!(
                    "this node has no {family} address to send from (it listens on {}); give its \
                     interface one, or --advertise one",
                    mine.join(", ")
                ),
            )
        })
    }

    /// Sends `buf` to `to` from the socket of `to`'s family.
    ///
    /// # Errors
    /// There is no socket of that family, or the OS refused the send (no
    /// route, ...). A seed's error is also logged as a warning (see the
    /// module doc).
    pub async fn send_to(&self, buf: &[u8], to: SocketAddr) -> io::Result<usize> {
        let result = match self.socket_for(to) {
            Ok(s) => s.send_to(buf, to).await,
            Err(e) => Err(e),
        };
        if self.seeds.contains(&to) {
            self.note_seed(to, result.as_ref().map(|_| ()));
        }
        result
    }

    fn note_seed(&self, seed: SocketAddr, result: Result<(), &io::Error>) {
        let Ok(mut warned) = self.warned.lock() else {
            return;
        };
        match result {
            Err(e) if warned.insert(seed) => warn!(
                seed = %seed,
                error = %e,
                "cannot reach a seed; trying again (logged again only once it was reached)"
            ),
            Err(e) => debug!(seed = %seed, error = %e, "seed still unreachable"),
            Ok(()) if warned.remove(&seed) => info!(seed = %seed, "a seed can be sent to again"),
            Ok(()) => {}
        }
    }

    /// The next datagram from either socket: its length in `buf` and its
    /// source.
    ///
    /// # Errors
    /// The OS's receive error.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        let v6_first = self.v6_first.fetch_xor(true, Ordering::Relaxed);
        let order = if v6_first {
            [&self.v6, &self.v4]
        } else {
            [&self.v4, &self.v6]
        };
        std::future::poll_fn(|cx| {
            for s in order.into_iter().flatten() {
                let mut rb = ReadBuf::new(&mut *buf);
                if let Poll::Ready(r) = s.poll_recv_from(cx, &mut rb) {
                    return Poll::Ready(r.map(|from| (rb.filled().len(), from)));
                }
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn bound(addr: &str) -> UdpSocket {
        UdpSocket::bind(addr).await.unwrap()
    }

    #[tokio::test]
    async fn sends_by_family_and_receives_from_both() {
        let v4 = bound("127.0.0.1:0").await;
        let Ok(v6) = UdpSocket::bind("[::1]:0").await else {
            eprintln!("SKIP: no IPv6 loopback here");
            return;
        };
        let u = Unicast::new(vec![v4, v6], &[]);
        let [a4, a6] = u.local_addrs()[..] else {
            panic!("two sockets: {:?}", u.local_addrs());
        };
        assert!(a4.is_ipv4() && a6.is_ipv6());
        let peer4 = bound("127.0.0.1:0").await;
        let peer6 = bound("[::1]:0").await;
        u.send_to(b"four", peer4.local_addr().unwrap())
            .await
            .unwrap();
        u.send_to(b"six", peer6.local_addr().unwrap())
            .await
            .unwrap();
        let mut buf = [0u8; 16];
        let (n, from) = peer4.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"four"[..], a4));
        let (n, from) = peer6.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"six"[..], a6));
        peer6.send_to(b"back6", a6).await.unwrap();
        peer4.send_to(b"back4", a4).await.unwrap();
        let mut got = Vec::new();
        for _ in 0..2 {
            let (n, from) = u.recv_from(&mut buf).await.unwrap();
            got.push((buf[..n].to_vec(), from));
        }
        got.sort();
        assert_eq!(
            got,
            vec![
                (b"back4".to_vec(), peer4.local_addr().unwrap()),
                (b"back6".to_vec(), peer6.local_addr().unwrap())
            ]
        );
    }

    #[tokio::test]
    async fn a_destination_of_a_family_without_a_socket_is_an_error_that_says_so() {
        let u = Unicast::new(vec![bound("127.0.0.1:0").await], &[]);
        let to: SocketAddr = "[fd00::2]:29999".parse().unwrap();
        let err = u.send_to(b"x", to).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrNotAvailable);
        assert!(err.to_string().contains("no IPv6 address"), "{err}");
        let seed: SocketAddr = "[fd00::3]:29999".parse().unwrap();
        let u = Unicast::new(vec![bound("127.0.0.1:0").await], &[seed]);
        assert!(u.send_to(b"x", seed).await.is_err());
        assert!(
            u.warned.lock().unwrap().contains(&seed),
            "a seed's failure is noted"
        );
    }
}
