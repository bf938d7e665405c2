//! Framing: frames and nonces, datagrams, format versions per peer.

use super::*;

impl Chatter {
    /// The one place frames are measured before they are sent: whether a
    /// frame of ours carrying `payload` at `seq` fits the MTU in
    /// `version`, and the payload back.
    pub(super) fn fits_mtu(
        &self,
        seq: u64,
        payload: wire::Payload,
        version: u8,
    ) -> (bool, wire::Payload) {
        let frame = Frame {
            sender: self.me.id,
            incarnation: self.me.incarnation,
            seq,
            payload,
        };
        let fits = self.frames.codec.encoded_len(&frame, version) <= self.cfg.mtu;
        (fits, frame.payload)
    }

    /// Seals `payload` in a frame and queues it as a datagram (multicast
    /// when `to` is `None`).
    pub(super) fn send_datagram(
        &mut self,
        _now: Millis,
        to: Option<SocketAddr>,
        payload: wire::Payload,
        version: u8,
    ) {
        let kind = payload.kind();
        if kind.since_version() > version {
            return;
        }
        let frame = self.frame(payload);
        let nonce = self.nonce();
        match self.frames.codec.encode_datagram(&frame, version, nonce) {
            Ok(bytes) => {
                self.outbox.stats.frame_out(kind, bytes.len());
                self.outbox.transmits.push_back(match to {
                    Some(to) => Transmit::Unicast { to, bytes },
                    None => Transmit::Multicast { bytes },
                });
            }
            Err(e) => self.outbox.stats.drop(DropReason::Wire(e)),
        }
    }

    pub(super) fn frame(&mut self, payload: wire::Payload) -> Frame {
        self.frames.seq += 1;
        Frame {
            sender: self.me.id,
            incarnation: self.me.incarnation,
            seq: self.frames.seq,
            payload,
        }
    }

    pub(super) fn nonce(&mut self) -> [u8; 24] {
        let mut n = [0u8; 24];
        self.rng.fill_bytes(&mut n);
        n
    }

    /// Where to answer `sender`: the datagram's source for UDP, its contact
    /// address for TCP.
    pub(super) fn reply_addr(&self, sender: NodeId, src: Source) -> SocketAddr {
        match src.conn {
            None => src.addr,
            Some(_) => self
                .peers
                .get(sender)
                .and_then(|p| p.addr)
                .unwrap_or(src.addr),
        }
    }

    /// The version to send `peer`.
    pub(super) fn version_for(&self, peer: NodeId) -> u8 {
        self.peers.get(peer).map_or(wire::VERSION, |p| {
            p.max_version.clamp(wire::MIN_VERSION, wire::VERSION)
        })
    }

    /// The version every known peer accepts (for multicasts and broadcasts).
    pub(super) fn send_version(&self) -> u8 {
        wire::negotiate(self.peers.iter().map(|p| p.max_version))
    }
}

/// The first format version whose deltas and forwards carry the message's
/// GC floors (src/wire/version.rs): own floors are attached, and tombstones
/// collected, only when every peer reads it.
pub(super) const FLOORS_VERSION: u8 = 3;

/// Whether frames of `version` carry GC floors.
pub(super) const fn carries_floors(version: u8) -> bool {
    version >= FLOORS_VERSION
}

/// The outputs waiting to be polled: transmits and events.
pub(super) struct Outbox {
    pub(super) transmits: VecDeque<Transmit>,
    pub(super) events: VecDeque<Event>,
    /// Own writes not durable yet: what is held, and how to undo them.
    pub(super) durable: crate::protocol::durability::Durability,
    pub(super) stats: crate::protocol::Stats,
}

/// Sealing and opening frames: the codec, our sequence number, the
/// replay window, and the key of the frame just opened.
pub(super) struct FrameState {
    pub(super) codec: Codec,
    pub(super) seq: u64,
    pub(super) freshness: Freshness,
    /// The key of the frame [`Chatter::open`] just opened, for `dispatch`
    /// to note on its sender (replay-checked kinds only).
    pub(super) opened_key: Option<KeySeen>,
}
