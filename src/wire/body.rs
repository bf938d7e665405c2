//! The body: what is sealed behind the header, as serde-derived wire
//! structs encoded with postcard, and their conversion from and to frames.
//!
//! ```text
//! body     = incarnation:varint seq:varint ids:seq<[u8; 8]> payload(kind, version)
//! ```
//!
//! The **id table** names each `NodeId` of the body once (8 bytes,
//! big-endian) in first-use order; everywhere else a node is a varint
//! index: 0 is the header's sender, `i >= 1` is `ids[i - 1]`. Clocks and
//! counts are varints; hashes, nonces, key bounds and ports are fixed-size
//! big-endian bytes. `docs/wire.md` gives the layout of every payload.
//!
//! Decoding reads every sequence with [`capped`] (never trusting a declared
//! count), refuses trailing bytes, and builds model values only through
//! their validating constructors (`GroupName::new`, `Span::new`,
//! `KeyRange::new`, `TimedItem::at`, `Message::new`). Builds on
//! [`crate::model`] and the frame types.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use serde::{Deserialize, Serialize};

use crate::model::{
    Coverage, GroupName, Item, KeyRange, Kind, Message, NodeId, Span, TimedItem, WorldClock,
};

use super::announce::{Announce, GroupDigest, Window};
use super::bounded::{Element, capped, check};
use super::error::{Field, Invalid, WireError};
use super::forward::Forward;
use super::frame::{Frame, FrameKind, Payload};
use super::limits::caps::{
    MAX_ADDRS, MAX_FORWARD_LIST, MAX_GROUPS, MAX_HEADS, MAX_HEARS, MAX_IDS, MAX_ITEMS, MAX_MEMBERS,
    MAX_RUMORS, MAX_SPANS,
};
use super::peer_ref::PeerRef;
use super::probe::{Liveness, PingReq, Probe, Rumor};
use super::pull::Pull;

/// Item flags: bit 0 = read (else serve), bit 1 = live.
const FLAG_READ: u8 = 1;
const FLAG_LIVE: u8 = 2;
/// An auto-claim marker ([`Kind::Auto`]); never together with `FLAG_READ`.
/// Understood by every build that knows auto-claim, in any format version:
/// turn auto mode on once every board runs such a build (docs/wire.md).
const FLAG_AUTO: u8 = 4;

// ---------------------------------------------------------------------------
// Wire structs. Field order is the byte order.

/// What every body starts with.
#[derive(Serialize, Deserialize)]
pub(crate) struct Envelope<P> {
    pub incarnation: u64,
    pub seq: u64,
    #[serde(deserialize_with = "capped::<MAX_IDS, _, _>")]
    pub ids: Vec<[u8; 8]>,
    pub payload: P,
}

/// `(after, upto]` as the gap from the previous span's `upto` (0 for the
/// first) and the length.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireSpan {
    gap: u64,
    len: u64,
}
impl Element for WireSpan {}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireItem {
    clock: u64,
    flags: u8,
    start: [u8; 4],
    end: [u8; 4],
    priority: u16,
    port: [u8; 2],
}
impl Element for WireItem {}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireMember {
    id: u32,
    #[serde(deserialize_with = "capped::<MAX_SPANS, _, _>")]
    spans: Vec<WireSpan>,
    #[serde(deserialize_with = "capped::<MAX_ITEMS, _, _>")]
    items: Vec<WireItem>,
}
impl Element for WireMember {}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireMessage<'a> {
    group: &'a str,
    #[serde(deserialize_with = "capped::<MAX_MEMBERS, _, _>")]
    members: Vec<WireMember>,
}

/// A GC floor (format version 3): member (id index) and floor (> 0).
#[derive(Serialize, Deserialize)]
pub(crate) struct WireFloor {
    id: u32,
    floor: u64,
}
impl Element for WireFloor {}

/// Version 3 appends the message's GC floors, sorted by member.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireDeltaV3<'a> {
    #[serde(borrow)]
    message: WireMessage<'a>,
    #[serde(deserialize_with = "capped::<MAX_MEMBERS, _, _>")]
    floors: Vec<WireFloor>,
}

/// Version 3 appends the carried message's GC floors, sorted by member.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireForwardV3<'a> {
    #[serde(borrow)]
    forward: WireForward<'a>,
    #[serde(deserialize_with = "capped::<MAX_MEMBERS, _, _>")]
    floors: Vec<WireFloor>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireClockEntry {
    id: u32,
    #[serde(deserialize_with = "capped::<MAX_SPANS, _, _>")]
    spans: Vec<WireSpan>,
}
impl Element for WireClockEntry {}

#[derive(Serialize, Deserialize)]
pub(crate) struct WirePull<'a> {
    group: &'a str,
    part_start: u64,
    part_end: u64,
    #[serde(deserialize_with = "capped::<MAX_MEMBERS, _, _>")]
    entries: Vec<WireClockEntry>,
}

/// A socket address: variant 0 = IPv4 (4 octets, port), 1 = IPv6
/// (16 octets, port, flowinfo, scope id). Ports are 2 bytes big-endian.
#[derive(Serialize, Deserialize)]
pub(crate) enum WireAddr {
    V4([u8; 4], [u8; 2]),
    V6([u8; 16], [u8; 2], u32, u32),
}
impl Element for WireAddr {}

#[derive(Serialize, Deserialize)]
pub(crate) struct WirePeer {
    id: u32,
    addr: WireAddr,
}
impl Element for WirePeer {}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireHears {
    total: u32,
    offset: u32,
    #[serde(deserialize_with = "capped::<MAX_HEARS, _, _>")]
    entries: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireDigest<'a> {
    group: &'a str,
    fingerprint: [u8; 8],
}
impl Element for WireDigest<'_> {}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireGroups<'a> {
    total: u32,
    offset: u32,
    #[serde(borrow, deserialize_with = "capped::<MAX_GROUPS, _, _>")]
    entries: Vec<WireDigest<'a>>,
}

/// An announce as format version 1 has it.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireAnnounce<'a> {
    max_version: u8,
    #[serde(deserialize_with = "capped::<MAX_ADDRS, _, _>")]
    addrs: Vec<WireAddr>,
    hears: WireHears,
    #[serde(borrow)]
    groups: WireGroups<'a>,
    groups_fp: [u8; 8],
    #[serde(deserialize_with = "capped::<MAX_HEADS, _, _>")]
    heads: Vec<WirePeer>,
}

/// Version 2 appends `policy_fp` and the liveness rumors.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireAnnounceV2<'a> {
    #[serde(borrow)]
    v1: WireAnnounce<'a>,
    policy_fp: [u8; 8],
    #[serde(deserialize_with = "capped::<MAX_RUMORS, _, _>")]
    rumors: Vec<WireRumor>,
}

/// A liveness rumor: the node (id index), its incarnation and sequence
/// number as of the belief, and the state byte.
#[derive(Serialize, Deserialize)]
pub(crate) struct WireRumor {
    id: u32,
    incarnation: u64,
    seq: u64,
    state: u8,
}
impl Element for WireRumor {}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireForward<'a> {
    author: u32,
    upto: u64,
    #[serde(deserialize_with = "capped::<MAX_FORWARD_LIST, _, _>")]
    list: Vec<WirePeer>,
    #[serde(borrow)]
    message: WireMessage<'a>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct WireProbe {
    nonce: [u8; 8],
    #[serde(deserialize_with = "capped::<MAX_RUMORS, _, _>")]
    rumors: Vec<WireRumor>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct WirePingReq {
    nonce: [u8; 8],
    target: WirePeer,
}

/// A whole body ready to serialize.
pub(crate) enum Body<'a> {
    AnnounceV1(Envelope<WireAnnounce<'a>>),
    AnnounceV2(Envelope<WireAnnounceV2<'a>>),
    Pull(Envelope<WirePull<'a>>),
    Delta(Envelope<WireMessage<'a>>),
    DeltaV3(Envelope<WireDeltaV3<'a>>),
    Forward(Envelope<WireForward<'a>>),
    ForwardV3(Envelope<WireForwardV3<'a>>),
    Probe(Envelope<WireProbe>),
    PingReq(Envelope<WirePingReq>),
}

// ---------------------------------------------------------------------------
// Encoding: frame -> wire structs.

/// The id table under construction: ids in first-use order.
struct IdTable {
    sender: NodeId,
    ids: Vec<[u8; 8]>,
    index: BTreeMap<NodeId, u32>,
}

impl IdTable {
    fn new(sender: NodeId) -> Self {
        Self {
            sender,
            ids: Vec::new(),
            index: BTreeMap::new(),
        }
    }

    fn index(&mut self, id: NodeId) -> u32 {
        if id == self.sender {
            return 0;
        }
        let next = u32::try_from(self.ids.len() + 1).unwrap_or(u32::MAX);
        *self.index.entry(id).or_insert_with(|| {
            self.ids.push(id.as_u64().to_be_bytes());
            next
        })
    }
}

fn wire_spans(coverage: &Coverage) -> Vec<WireSpan> {
    let mut prev = 0;
    coverage
        .spans()
        .map(|s| {
            let w = WireSpan {
                gap: s.after() - prev,
                len: s.len(),
            };
            prev = s.upto();
            w
        })
        .collect()
}

fn wire_item(i: &TimedItem) -> WireItem {
    let mut flags = 0;
    match i.kind() {
        Kind::Serve => {}
        Kind::Read => flags |= FLAG_READ,
        Kind::Auto => flags |= FLAG_AUTO,
    }
    if i.live() {
        flags |= FLAG_LIVE;
    }
    WireItem {
        clock: i.clock(),
        flags,
        start: i.range().start().to_be_bytes(),
        end: i.range().end().to_be_bytes(),
        priority: i.priority(),
        port: i.port().to_be_bytes(),
    }
}

/// `m` at format `version`, and its floors (version 3 and later). Below
/// version 3 a message cannot say its floors, so it claims nothing of a
/// member at or below that member's floor (it may not: retractions there
/// may be collected); the receiver pulls those clocks again later.
fn wire_message<'a>(
    m: &'a Message,
    version: u8,
    t: &mut IdTable,
) -> Result<(WireMessage<'a>, Vec<WireFloor>), WireError> {
    let entries = m.clock().entries();
    let holders = m.max_seen_table();
    let floors = m.clock().floors();
    let mut members = Vec::with_capacity(entries.len().max(holders.len()));
    let (mut i, mut j) = (0, 0);
    loop {
        let member = match (entries.get(i), holders.get(j)) {
            (Some(e), Some(&(h, _))) => e.member().min(h),
            (Some(e), None) => e.member(),
            (None, Some(&(h, _))) => h,
            (None, None) => break,
        };
        let mut spans = Vec::new();
        if let Some(e) = entries.get(i).filter(|e| e.member() == member) {
            let floor = if version >= 3 { 0 } else { m.floor(member) };
            if floor == 0 {
                spans = wire_spans(e.coverage());
            } else {
                let above = Coverage::from_spans(
                    e.coverage()
                        .spans()
                        .filter_map(|s| s.within(floor, u64::MAX)),
                );
                spans = wire_spans(&above);
            }
            i += 1;
        }
        if holders.get(j).is_some_and(|&(h, _)| h == member) {
            j += 1;
        }
        let items: Vec<WireItem> = m
            .items()
            .member_items(member)
            .iter()
            .map(wire_item)
            .collect();
        if spans.is_empty() && items.is_empty() {
            continue;
        }
        check(&spans, MAX_SPANS, Field::Spans)?;
        members.push(WireMember {
            id: t.index(member),
            spans,
            items,
        });
    }
    check(&members, MAX_MEMBERS, Field::Members)?;
    check(m.items().items(), MAX_ITEMS, Field::Items)?;
    check(floors, MAX_MEMBERS, Field::Members)?;
    let floors = if version >= 3 {
        floors
            .iter()
            .map(|&(member, floor)| WireFloor {
                id: t.index(member),
                floor,
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok((
        WireMessage {
            group: m.group().as_str(),
            members,
        },
        floors,
    ))
}

fn wire_addr(a: &SocketAddr) -> WireAddr {
    match a {
        SocketAddr::V4(a) => WireAddr::V4(a.ip().octets(), a.port().to_be_bytes()),
        SocketAddr::V6(a) => WireAddr::V6(
            a.ip().octets(),
            a.port().to_be_bytes(),
            a.flowinfo(),
            a.scope_id(),
        ),
    }
}

fn wire_rumor(r: &Rumor, t: &mut IdTable) -> WireRumor {
    WireRumor {
        id: t.index(r.id),
        incarnation: r.incarnation,
        seq: r.seq,
        state: r.state as u8,
    }
}

fn rumors(w: &[WireRumor], ids: &Ids<'_>) -> Result<Vec<Rumor>, WireError> {
    check(w, MAX_RUMORS, Field::Rumors)?;
    w.iter()
        .map(|r| {
            Ok(Rumor {
                id: ids.get(r.id)?,
                incarnation: r.incarnation,
                seq: r.seq,
                state: Liveness::from_byte(r.state)
                    .ok_or(WireError::invalid(Invalid::RumorState))?,
            })
        })
        .collect()
}

fn wire_peer(p: &PeerRef, t: &mut IdTable) -> WirePeer {
    WirePeer {
        id: t.index(p.id),
        addr: wire_addr(&p.addr),
    }
}

fn check_window<T>(w: &Window<T>) -> Result<(), WireError> {
    let ok = w.entries.len() as u64 <= u64::from(w.total)
        && (w.offset < w.total || (w.total == 0 && w.offset == 0));
    if ok {
        Ok(())
    } else {
        Err(WireError::invalid(Invalid::Window))
    }
}

fn wire_announce<'a>(
    a: &'a Announce,
    version: u8,
    t: &mut IdTable,
) -> Result<WireAnnounce<'a>, WireError> {
    check(&a.addrs, MAX_ADDRS, Field::Addrs)?;
    check(&a.hears.entries, MAX_HEARS, Field::Hears)?;
    check(&a.groups.entries, MAX_GROUPS, Field::Groups)?;
    check(&a.heads, MAX_HEADS, Field::Heads)?;
    check_window(&a.hears)?;
    check_window(&a.groups)?;
    if a.max_version < version {
        return Err(WireError::invalid(Invalid::MaxVersion));
    }
    let hears = WireHears {
        total: a.hears.total,
        offset: a.hears.offset,
        entries: a.hears.entries.iter().map(|id| t.index(*id)).collect(),
    };
    let groups = WireGroups {
        total: a.groups.total,
        offset: a.groups.offset,
        entries: a
            .groups
            .entries
            .iter()
            .map(|g| WireDigest {
                group: g.group.as_str(),
                fingerprint: g.fingerprint.to_be_bytes(),
            })
            .collect(),
    };
    Ok(WireAnnounce {
        max_version: a.max_version,
        addrs: a.addrs.iter().map(wire_addr).collect(),
        hears,
        groups,
        groups_fp: a.groups_fp.to_be_bytes(),
        heads: a.heads.iter().map(|p| wire_peer(p, t)).collect(),
    })
}

fn wire_pull<'a>(p: &'a Pull, t: &mut IdTable) -> Result<WirePull<'a>, WireError> {
    let (start, end) = (*p.part.start(), *p.part.end());
    if start > end
        || p.clock
            .entries()
            .iter()
            .any(|e| !p.part.contains(&e.member()))
    {
        return Err(WireError::invalid(Invalid::PullPart));
    }
    check(p.clock.entries(), MAX_MEMBERS, Field::Members)?;
    let mut entries = Vec::with_capacity(p.clock.len());
    for e in p.clock.entries() {
        let spans = wire_spans(e.coverage());
        check(&spans, MAX_SPANS, Field::Spans)?;
        entries.push(WireClockEntry {
            id: t.index(e.member()),
            spans,
        });
    }
    Ok(WirePull {
        group: p.group.as_str(),
        part_start: start.as_u64(),
        part_end: end.as_u64(),
        entries,
    })
}

fn envelope<P>(frame: &Frame, t: IdTable, payload: P) -> Result<Envelope<P>, WireError> {
    check(&t.ids, MAX_IDS, Field::Ids)?;
    Ok(Envelope {
        incarnation: frame.incarnation,
        seq: frame.seq,
        ids: t.ids,
        payload,
    })
}

impl<'a> Body<'a> {
    /// The wire form of `frame` at `version` (already checked to have its
    /// kind).
    pub(crate) fn of(frame: &'a Frame, version: u8) -> Result<Self, WireError> {
        let mut t = IdTable::new(frame.sender);
        Ok(match &frame.payload {
            Payload::Announce(a) => {
                let v1 = wire_announce(a, version, &mut t)?;
                if version >= 2 {
                    check(&a.rumors, MAX_RUMORS, Field::Rumors)?;
                    let rumors = a.rumors.iter().map(|r| wire_rumor(r, &mut t)).collect();
                    let p = WireAnnounceV2 {
                        v1,
                        policy_fp: a.policy_fp.to_be_bytes(),
                        rumors,
                    };
                    Body::AnnounceV2(envelope(frame, t, p)?)
                } else {
                    Body::AnnounceV1(envelope(frame, t, v1)?)
                }
            }
            Payload::Pull(p) => {
                let p = wire_pull(p, &mut t)?;
                Body::Pull(envelope(frame, t, p)?)
            }
            Payload::Delta(m) => {
                let (message, floors) = wire_message(m, version, &mut t)?;
                if version >= 3 {
                    let p = WireDeltaV3 { message, floors };
                    Body::DeltaV3(envelope(frame, t, p)?)
                } else {
                    Body::Delta(envelope(frame, t, message)?)
                }
            }
            Payload::Forward(f) => {
                check(&f.list, MAX_FORWARD_LIST, Field::ForwardList)?;
                let author = t.index(f.author);
                let list = f.list.iter().map(|p| wire_peer(p, &mut t)).collect();
                let (message, floors) = wire_message(&f.message, version, &mut t)?;
                let forward = WireForward {
                    author,
                    upto: f.upto,
                    list,
                    message,
                };
                if version >= 3 {
                    let p = WireForwardV3 { forward, floors };
                    Body::ForwardV3(envelope(frame, t, p)?)
                } else {
                    Body::Forward(envelope(frame, t, forward)?)
                }
            }
            Payload::Ping(p) | Payload::Ack(p) => {
                check(&p.rumors, MAX_RUMORS, Field::Rumors)?;
                let p = WireProbe {
                    nonce: p.nonce.to_be_bytes(),
                    rumors: p.rumors.iter().map(|r| wire_rumor(r, &mut t)).collect(),
                };
                Body::Probe(envelope(frame, t, p)?)
            }
            Payload::PingReq(r) => {
                let target = wire_peer(&r.target, &mut t);
                let p = WirePingReq {
                    nonce: r.nonce.to_be_bytes(),
                    target,
                };
                Body::PingReq(envelope(frame, t, p)?)
            }
        })
    }

    /// Appends the postcard bytes to `out`.
    pub(crate) fn write(&self, out: Vec<u8>) -> Result<Vec<u8>, WireError> {
        let r = match self {
            Body::AnnounceV1(b) => postcard::to_extend(b, out),
            Body::AnnounceV2(b) => postcard::to_extend(b, out),
            Body::Pull(b) => postcard::to_extend(b, out),
            Body::Delta(b) => postcard::to_extend(b, out),
            Body::Forward(b) => postcard::to_extend(b, out),
            Body::DeltaV3(b) => postcard::to_extend(b, out),
            Body::ForwardV3(b) => postcard::to_extend(b, out),
            Body::Probe(b) => postcard::to_extend(b, out),
            Body::PingReq(b) => postcard::to_extend(b, out),
        };
        // Serializing into a Vec cannot fail for these types.
        r.map_err(|_| WireError::Malformed)
    }

    /// The exact number of bytes [`Body::write`] appends.
    pub(crate) fn len(&self) -> usize {
        use postcard::ser_flavors::Size;
        let r = match self {
            Body::AnnounceV1(b) => postcard::serialize_with_flavor(b, Size::default()),
            Body::AnnounceV2(b) => postcard::serialize_with_flavor(b, Size::default()),
            Body::Pull(b) => postcard::serialize_with_flavor(b, Size::default()),
            Body::Delta(b) => postcard::serialize_with_flavor(b, Size::default()),
            Body::Forward(b) => postcard::serialize_with_flavor(b, Size::default()),
            Body::DeltaV3(b) => postcard::serialize_with_flavor(b, Size::default()),
            Body::ForwardV3(b) => postcard::serialize_with_flavor(b, Size::default()),
            Body::Probe(b) => postcard::serialize_with_flavor(b, Size::default()),
            Body::PingReq(b) => postcard::serialize_with_flavor(b, Size::default()),
        };
        r.unwrap_or(0)
    }
}

// ---------------------------------------------------------------------------
// Decoding: bytes -> wire structs -> frame.

/// The decoded id table.
struct Ids<'t> {
    sender: NodeId,
    ids: &'t [[u8; 8]],
}

impl Ids<'_> {
    fn get(&self, index: u32) -> Result<NodeId, WireError> {
        if index == 0 {
            return Ok(self.sender);
        }
        self.ids
            .get(index as usize - 1)
            .map(|b| NodeId::from_u64(u64::from_be_bytes(*b)))
            .ok_or(WireError::invalid(Invalid::IdIndex))
    }
}

fn group_name(s: &str) -> Result<GroupName, WireError> {
    GroupName::new(s).map_err(|_| WireError::invalid(Invalid::GroupName))
}

fn coverage(spans: &[WireSpan]) -> Result<Coverage, WireError> {
    check(spans, MAX_SPANS, Field::Spans)?;
    let bad = || WireError::invalid(Invalid::Span);
    let mut prev: u64 = 0;
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
        let after = prev.checked_add(s.gap).ok_or_else(bad)?;
        let upto = after.checked_add(s.len).ok_or_else(bad)?;
        out.push(Span::new(after, upto).map_err(|_| bad())?);
        prev = upto;
    }
    Ok(Coverage::from_spans(out))
}

fn timed_item(member: NodeId, w: &WireItem) -> Result<TimedItem, WireError> {
    if w.flags & !(FLAG_READ | FLAG_LIVE | FLAG_AUTO) != 0
        || w.flags & (FLAG_READ | FLAG_AUTO) == FLAG_READ | FLAG_AUTO
    {
        return Err(WireError::invalid(Invalid::ItemFlags));
    }
    let range = KeyRange::new(u32::from_be_bytes(w.start), u32::from_be_bytes(w.end))?;
    let item = Item {
        member,
        kind: if w.flags & FLAG_READ != 0 {
            Kind::Read
        } else if w.flags & FLAG_AUTO != 0 {
            Kind::Auto
        } else {
            Kind::Serve
        },
        live: w.flags & FLAG_LIVE != 0,
        range,
        priority: w.priority,
        port: u16::from_be_bytes(w.port),
    };
    Ok(TimedItem::at(item, w.clock)?)
}

/// A message and its floors (version 3; none before): floors in strictly
/// increasing member order, each above 0.
fn message(w: WireMessage<'_>, floors: &[WireFloor], ids: &Ids<'_>) -> Result<Message, WireError> {
    check(&w.members, MAX_MEMBERS, Field::Members)?;
    check(floors, MAX_MEMBERS, Field::Members)?;
    let group = group_name(w.group)?;
    let mut clock = WorldClock::new();
    let mut items = Vec::new();
    let mut last: Option<NodeId> = None;
    for m in &w.members {
        let member = ids.get(m.id)?;
        if last.is_some_and(|l| l >= member) {
            return Err(WireError::invalid(Invalid::MemberOrder));
        }
        last = Some(member);
        if m.spans.is_empty() && m.items.is_empty() {
            return Err(WireError::invalid(Invalid::EmptyMember));
        }
        check(&m.items, MAX_ITEMS, Field::Items)?;
        if items.len() + m.items.len() > MAX_ITEMS {
            return Err(WireError::over_cap(Field::Items));
        }
        clock.set(member, coverage(&m.spans)?);
        for i in &m.items {
            items.push(timed_item(member, i)?);
        }
    }
    let mut last: Option<NodeId> = None;
    for f in floors {
        let member = ids.get(f.id)?;
        if last.is_some_and(|l| l >= member) {
            return Err(WireError::invalid(Invalid::MemberOrder));
        }
        last = Some(member);
        if f.floor == 0 {
            return Err(WireError::invalid(Invalid::ZeroClock));
        }
        clock.set_floor(member, f.floor);
    }
    Ok(Message::new(group, clock, items)?)
}

fn socket_addr(w: &WireAddr) -> SocketAddr {
    match *w {
        WireAddr::V4(ip, port) => SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(ip),
            u16::from_be_bytes(port),
        )),
        WireAddr::V6(ip, port, flow, scope) => SocketAddr::V6(SocketAddrV6::new(
            Ipv6Addr::from(ip),
            u16::from_be_bytes(port),
            flow,
            scope,
        )),
    }
}

fn peer(w: &WirePeer, ids: &Ids<'_>) -> Result<PeerRef, WireError> {
    Ok(PeerRef {
        id: ids.get(w.id)?,
        addr: socket_addr(&w.addr),
    })
}

fn window<T>(total: u32, offset: u32, entries: Vec<T>) -> Result<Window<T>, WireError> {
    let w = Window {
        total,
        offset,
        entries,
    };
    check_window(&w)?;
    Ok(w)
}

fn announce(
    w: WireAnnounce<'_>,
    policy_fp: u64,
    rumors: Vec<Rumor>,
    version: u8,
    ids: &Ids<'_>,
) -> Result<Announce, WireError> {
    check(&w.addrs, MAX_ADDRS, Field::Addrs)?;
    check(&w.hears.entries, MAX_HEARS, Field::Hears)?;
    check(&w.groups.entries, MAX_GROUPS, Field::Groups)?;
    check(&w.heads, MAX_HEADS, Field::Heads)?;
    if w.max_version < version {
        return Err(WireError::invalid(Invalid::MaxVersion));
    }
    let hears = w
        .hears
        .entries
        .iter()
        .map(|i| ids.get(*i))
        .collect::<Result<Vec<_>, _>>()?;
    let groups = w
        .groups
        .entries
        .iter()
        .map(|d| {
            Ok(GroupDigest {
                group: group_name(d.group)?,
                fingerprint: u64::from_be_bytes(d.fingerprint),
            })
        })
        .collect::<Result<Vec<_>, WireError>>()?;
    Ok(Announce {
        max_version: w.max_version,
        addrs: w.addrs.iter().map(socket_addr).collect(),
        hears: window(w.hears.total, w.hears.offset, hears)?,
        groups: window(w.groups.total, w.groups.offset, groups)?,
        groups_fp: u64::from_be_bytes(w.groups_fp),
        heads: w
            .heads
            .iter()
            .map(|p| peer(p, ids))
            .collect::<Result<Vec<_>, _>>()?,
        policy_fp,
        rumors,
    })
}

fn pull(w: WirePull<'_>, ids: &Ids<'_>) -> Result<Pull, WireError> {
    check(&w.entries, MAX_MEMBERS, Field::Members)?;
    let group = group_name(w.group)?;
    let (start, end) = (NodeId::from_u64(w.part_start), NodeId::from_u64(w.part_end));
    if start > end {
        return Err(WireError::invalid(Invalid::PullPart));
    }
    let part: RangeInclusive<NodeId> = start..=end;
    let mut clock = WorldClock::new();
    let mut last: Option<NodeId> = None;
    for e in &w.entries {
        let member = ids.get(e.id)?;
        if last.is_some_and(|l| l >= member) {
            return Err(WireError::invalid(Invalid::MemberOrder));
        }
        last = Some(member);
        if !part.contains(&member) {
            return Err(WireError::invalid(Invalid::PullPart));
        }
        if e.spans.is_empty() {
            return Err(WireError::invalid(Invalid::EmptyMember));
        }
        clock.set(member, coverage(&e.spans)?);
    }
    Ok(Pull { group, part, clock })
}

/// Reads one `T` from `bytes`, refusing leftovers.
fn read<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, WireError> {
    let (v, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|_| WireError::Malformed)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes);
    }
    Ok(v)
}

/// Reads an envelope of `P` from `bytes` (its id table capped) and makes
/// the frame of `sender` whose payload `f` builds from the envelope's.
fn open_as<'a, P: Deserialize<'a>>(
    bytes: &'a [u8],
    sender: NodeId,
    f: impl FnOnce(P, &Ids<'_>) -> Result<Payload, WireError>,
) -> Result<Frame, WireError> {
    let e: Envelope<P> = read(bytes)?;
    check(&e.ids, MAX_IDS, Field::Ids)?;
    let ids = Ids {
        sender,
        ids: &e.ids,
    };
    Ok(Frame {
        sender,
        incarnation: e.incarnation,
        seq: e.seq,
        payload: f(e.payload, &ids)?,
    })
}

fn forward(p: WireForward<'_>, floors: &[WireFloor], ids: &Ids<'_>) -> Result<Forward, WireError> {
    check(&p.list, MAX_FORWARD_LIST, Field::ForwardList)?;
    Ok(Forward {
        author: ids.get(p.author)?,
        upto: p.upto,
        list: p
            .list
            .iter()
            .map(|x| peer(x, ids))
            .collect::<Result<Vec<_>, _>>()?,
        message: message(p.message, floors, ids)?,
    })
}

fn probe(p: &WireProbe, ids: &Ids<'_>) -> Result<Probe, WireError> {
    Ok(Probe {
        nonce: u64::from_be_bytes(p.nonce),
        rumors: rumors(&p.rumors, ids)?,
    })
}

/// Decodes an opened body of `kind` at `version` from `sender`.
///
/// # Errors
/// [`WireError::Malformed`], [`WireError::TrailingBytes`],
/// [`WireError::OverCap`], [`WireError::Invalid`].
pub(crate) fn decode(
    kind: FrameKind,
    version: u8,
    sender: NodeId,
    bytes: &[u8],
) -> Result<Frame, WireError> {
    match kind {
        FrameKind::Announce if version >= 2 => {
            open_as(bytes, sender, |p: WireAnnounceV2<'_>, ids| {
                let fp = u64::from_be_bytes(p.policy_fp);
                let r = rumors(&p.rumors, ids)?;
                Ok(Payload::Announce(announce(p.v1, fp, r, version, ids)?))
            })
        }
        FrameKind::Announce => open_as(bytes, sender, |p: WireAnnounce<'_>, ids| {
            Ok(Payload::Announce(announce(p, 0, Vec::new(), version, ids)?))
        }),
        FrameKind::Pull => open_as(bytes, sender, |p: WirePull<'_>, ids| {
            Ok(Payload::Pull(pull(p, ids)?))
        }),
        FrameKind::Delta if version >= 3 => open_as(bytes, sender, |p: WireDeltaV3<'_>, ids| {
            Ok(Payload::Delta(message(p.message, &p.floors, ids)?))
        }),
        FrameKind::Delta => open_as(bytes, sender, |p: WireMessage<'_>, ids| {
            Ok(Payload::Delta(message(p, &[], ids)?))
        }),
        FrameKind::Forward if version >= 3 => {
            open_as(bytes, sender, |p: WireForwardV3<'_>, ids| {
                Ok(Payload::Forward(forward(p.forward, &p.floors, ids)?))
            })
        }
        FrameKind::Forward => open_as(bytes, sender, |p: WireForward<'_>, ids| {
            Ok(Payload::Forward(forward(p, &[], ids)?))
        }),
        FrameKind::Ping => open_as(bytes, sender, |p: WireProbe, ids| {
            Ok(Payload::Ping(probe(&p, ids)?))
        }),
        FrameKind::Ack => open_as(bytes, sender, |p: WireProbe, ids| {
            Ok(Payload::Ack(probe(&p, ids)?))
        }),
        FrameKind::PingReq => open_as(bytes, sender, |p: WirePingReq, ids| {
            Ok(Payload::PingReq(PingReq {
                nonce: u64::from_be_bytes(p.nonce),
                target: peer(&p.target, ids)?,
            }))
        }),
    }
}

/// Length of `v` as a postcard varint.
#[must_use]
pub(crate) const fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    if bits == 0 { 1 } else { bits.div_ceil(7) }
}

/// Used by the sizers: the exact encoded length of one item.
pub(crate) fn item_len(i: &TimedItem) -> usize {
    // clock, flags, start, end, priority, port
    varint_len(i.clock()) + 1 + 4 + 4 + varint_len(u64::from(i.priority())) + 2
}

/// Used by the sizers: encoded length of an address.
pub(crate) fn addr_len(a: &SocketAddr) -> usize {
    match a {
        SocketAddr::V4(_) => 1 + 4 + 2,
        SocketAddr::V6(a) => {
            1 + 16 + 2 + varint_len(u64::from(a.flowinfo())) + varint_len(u64::from(a.scope_id()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_postcard() {
        for v in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let b = postcard::to_allocvec(&v).unwrap();
            assert_eq!(varint_len(v), b.len(), "{v}");
        }
    }

    #[test]
    fn item_len_is_exact() {
        let r = KeyRange::new(5, 1 << 30).unwrap();
        let it = TimedItem::at(Item::add(NodeId::from_u64(1), r, 300, 8080), 1 << 20).unwrap();
        let b = postcard::to_allocvec(&wire_item(&it)).unwrap();
        assert_eq!(item_len(&it), b.len());
    }

    #[test]
    fn addresses_round_trip_with_scope() {
        let a: SocketAddr = "[fe80::1%3]:7946".parse().unwrap();
        let back = socket_addr(&wire_addr(&a));
        assert_eq!(back, a);
        assert_eq!(
            postcard::to_allocvec(&wire_addr(&a)).unwrap().len(),
            addr_len(&a)
        );
    }
}
