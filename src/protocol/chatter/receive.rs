//! Frame receive and admission: open (authenticate, check freshness) and
//! route the payload to its concept.

use super::*;

impl Chatter {
    /// Decodes and checks a frame, with the version it came in; counts
    /// and drops what fails.
    pub(super) fn open(&mut self, now: Millis, src: Source, bytes: &[u8]) -> Option<(Frame, u8)> {
        self.outbox.stats.bytes_in += bytes.len() as u64;
        let decoded = match self.frames.codec.decode(bytes) {
            Ok(d) => d,
            Err(e) => {
                self.outbox.stats.drop(DropReason::Wire(e));
                if matches!(
                    e,
                    wire::WireError::UnknownKeyId(_) | wire::WireError::AuthFailed
                ) {
                    let n = self.budgets.auth_failures.entry(src.addr).or_insert(0);
                    *n += 1;
                    // Repeated: from the second failure, then at 4, 8, 16...
                    if n.is_power_of_two() && *n >= 2 {
                        let failures = *n;
                        self.outbox.events.push_back(Event::KeyMismatch {
                            from: src.addr,
                            failures,
                        });
                    }
                }
                return None;
            }
        };
        self.budgets.auth_failures.remove(&src.addr);
        let frame = decoded.frame;
        if frame.sender == self.me.id {
            // Our own multicast, looped back.
            self.outbox.stats.drop(DropReason::Own);
            return None;
        }
        let kind = frame.payload.kind();
        if kind.needs_freshness()
            && let Err(e) = self
                .frames
                .freshness
                .check(frame.sender, frame.incarnation, frame.seq)
        {
            self.outbox.stats.drop(DropReason::Wire(e));
            return None;
        }
        self.outbox.stats.frame_in(kind);
        // Replay-checked kinds only (announces and pings come from every
        // peer every few seconds): a replayed old frame says nothing.
        self.frames.opened_key = kind.needs_freshness().then_some(KeySeen {
            key_id: decoded.key_id,
            at: now,
        });
        Some((frame, decoded.version))
    }

    pub(super) fn dispatch(&mut self, now: Millis, src: Source, frame: Frame, version: u8) {
        let sender = frame.sender;
        if !self.admit(now, src, &frame, version) {
            return;
        }
        match frame.payload {
            wire::Payload::Announce(mut a) => {
                let rumors = std::mem::take(&mut a.rumors);
                self.on_announce(now, sender, src, a);
                self.on_rumors(now, sender, src, rumors);
            }
            wire::Payload::Pull(p) => self.on_pull(now, sender, src, p),
            wire::Payload::Delta(m) => self.on_delta(now, sender, src, m),
            wire::Payload::Forward(f) => self.on_forward(now, sender, f),
            wire::Payload::Ping(p) => self.on_ping(now, sender, src, p),
            wire::Payload::Ack(p) => self.on_ack(now, sender, src, p),
            wire::Payload::PingReq(req) => self.on_ping_req(now, sender, src, req),
        }
    }

    /// Admits the frame's sender (new ids at a bounded rate per address)
    /// and notes what the frame shows of it: liveness, address, restart,
    /// a return from expiry. False if it is not admitted.
    fn admit(&mut self, now: Millis, src: Source, frame: &Frame, version: u8) -> bool {
        let sender = frame.sender;
        // New members from one address are admitted at a bounded rate: a
        // key holder inventing ids cannot flush the peer table.
        if self.peers.get(sender).is_none() && !self.budgets.admissions.allow(src.addr.ip(), now) {
            self.outbox.stats.drop(DropReason::Admission);
            return false;
        }
        let (new, moved, addr) = self.note_peer(now, src, frame, version);
        if new {
            let addr = addr.unwrap_or(src.addr);
            self.outbox
                .events
                .push_back(Event::PeerDiscovered { id: sender, addr });
        } else if moved && let Some(addr) = addr {
            self.outbox
                .events
                .push_back(Event::PeerMoved { id: sender, addr });
            self.moved(now, PeerRef { id: sender, addr });
        }
        if let Some(t) = self
            .swim
            .detector
            .heard(sender, frame.incarnation, frame.seq, now)
        {
            self.transition(now, t);
        }
        // An expired member heard first-hand in a fresh frame (an announce
        // or a probe, which passed the replay check; a delta may be an old
        // one replayed) is back: its writes are taken again (announces show
        // what we lack, and we pull it).
        if frame.payload.kind().needs_freshness()
            && self.expiry.expired_at.remove(&sender).is_some()
        {
            self.db.clear_expired(sender);
        }
        true
    }

    /// Updates the sender's peer entry from `frame`: whether it is new,
    /// whether its address moved, and its address now.
    fn note_peer(
        &mut self,
        now: Millis,
        src: Source,
        frame: &Frame,
        version: u8,
    ) -> (bool, bool, Option<SocketAddr>) {
        let sender = frame.sender;
        let key_seen = self.frames.opened_key.take();
        let (peer, new) = self.peers.entry(sender, now);
        peer.last_heard = now;
        peer.key_seen = key_seen.or(peer.key_seen);
        peer.note_version(version, frame.incarnation);
        if frame.incarnation > peer.incarnation {
            // A restart: what it reported about us no longer holds.
            peer.incarnation = frame.incarnation;
            peer.hears_me = None;
            peer.hears.clear();
        }
        if src.via == Via::Multicast {
            peer.last_multicast = Some(now);
        }
        // Its address follows its own frames (`Peer::note_addr`): an
        // announce says where it is, whoever passed it on; a replay-checked
        // datagram from a restarted sender shows where it is now.
        let frame_at = (frame.incarnation, frame.seq);
        let moved = match &frame.payload {
            wire::Payload::Announce(a) => usable_addr(&self.me.addrs, &a.addrs)
                .is_some_and(|own| peer.note_addr(own, frame_at)),
            p if src.conn.is_none() && p.kind().needs_freshness() => {
                peer.note_source(src.addr, frame_at)
            }
            _ => false,
        };
        if src.conn.is_none() {
            peer.note_hearsay(src.addr);
        }
        (new, moved, peer.addr)
    }

    /// Liveness rumors piggybacked on a frame.
    ///
    /// A suspicion of this node is refuted at once, not only by piggyback:
    /// an announce carrying the refutation goes to our LAN and to the peer
    /// that told us (at most one pair per second), since a refutation that
    /// waits for the next probes can lose the race with the suspicion
    /// timeout on a large or lossy cluster.
    pub(super) fn on_rumors(
        &mut self,
        now: Millis,
        sender: NodeId,
        src: Source,
        rumors: Vec<Rumor>,
    ) {
        let mut refute = false;
        for r in rumors {
            if r.id == self.me.id {
                refute |= self.swim.detector.about_me(
                    r,
                    self.me.id,
                    self.me.incarnation,
                    self.frames.seq + 1,
                );
            } else if let Some(t) = self.swim.detector.rumor(r, now) {
                self.told_restart(t, sender);
                self.transition(now, t);
            }
        }
        if refute
            && self
                .swim
                .last_refutation
                .is_none_or(|t| now.since(t) >= 1_000)
        {
            self.swim.last_refutation = Some(now);
            if self.cfg.multicast {
                self.send_announce(now, None);
            }
            let to = self.reply_addr(sender, src);
            self.send_announce(now, Some(to));
        }
    }
}

/// Source addresses with a budget remembered (per kind of budget).
pub(super) const MAX_ADDRS_TRACKED: usize = 1_024;

/// Budgets per source address: new member ids admitted, answers to
/// unicast frames, pulls served, and authentication failures.
pub(super) struct SourceBudgets {
    /// New member ids admitted per source address.
    pub(super) admissions: Buckets<IpAddr>,
    /// Answers to unicast frames (announce replies, acks, relayed pings)
    /// per source address.
    pub(super) replies: Buckets<IpAddr>,
    /// Pulls served per source address (as well as per member id).
    pub(super) serves: Buckets<IpAddr>,
    pub(super) auth_failures: BTreeMap<SocketAddr, u64>,
}
