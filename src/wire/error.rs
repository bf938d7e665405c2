//! `WireError`: every reason a frame is refused, on the way in or out.
//!
//! Decoding checks a frame completely before anything reaches the protocol:
//! a refused frame is dropped whole, counted by [`WireError::reason`] (see
//! [`crate::wire::DropCounters`]) and logged at debug by the caller. Nothing
//! is ever half-applied, and no state changes when a frame is refused. The
//! values are small and `Copy`, so the hot path never allocates to fail.

use super::frame::FrameKind;

/// Why a frame was refused. No state changed anywhere.
#[derive(Clone, Copy, PartialEq, Eq, Debug, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than a clear header plus an authentication tag: not a
    /// frame of ours (or cut short). Dropped before any other check.
    #[error("frame too short: {len} bytes")]
    TooShort {
        /// Bytes received.
        len: usize,
    },

    /// More bytes than the limit allows: above `max_frame` on decode, or a
    /// frame that does not fit the MTU (`encode_datagram`) or `max_frame`
    /// (`encode`) on encode. Nothing was sent or decoded.
    #[error("frame too long: {len} bytes, the limit is {max}")]
    TooLong {
        /// The frame's length.
        len: usize,
        /// The limit it exceeds.
        max: usize,
    },

    /// The first four bytes are not the magic: not scalesmall traffic.
    #[error("bad magic: not a scalesmall frame")]
    BadMagic,

    /// A format version this node does not speak (it accepts
    /// [`crate::wire::MIN_VERSION`] ..= [`crate::wire::VERSION`]).
    #[error("unsupported format version {0}")]
    UnsupportedVersion(u8),

    /// A kind byte no version defines.
    #[error("unknown frame kind {0}")]
    UnknownKind(u8),

    /// A kind that the frame's format version does not have (a version 2
    /// kind in a version 1 frame, or asked to be encoded at version 1).
    #[error("frame kind {} does not exist in format version {version}", kind.name())]
    KindNotInVersion {
        /// The kind.
        kind: FrameKind,
        /// The frame's version.
        version: u8,
    },

    /// The cluster id is not ours: another cluster on the same network.
    /// Checked before any cryptography.
    #[error("frame of another cluster (cluster id {0:#010x})")]
    WrongCluster(u32),

    /// The key id names no key in our keyring (another key, or a rotation
    /// this node has not been given yet).
    #[error("no key with id {0:#010x} in the keyring")]
    UnknownKeyId(u32),

    /// The authentication tag does not verify: the frame was altered, or
    /// sealed under another key with a colliding id. Nothing was decoded.
    #[error("authentication failed")]
    AuthFailed,

    /// An announce or probe whose `(incarnation, seq)` was already accepted
    /// from its sender, or is older than the window below the highest: a
    /// replay or a stale duplicate (see [`crate::wire::Freshness`]).
    #[error("stale or replayed frame")]
    Replayed,

    /// The authenticated body is not valid postcard for its kind (cut
    /// short, a bad varint, bad UTF-8, an unknown tag).
    #[error("malformed body")]
    Malformed,

    /// The body decoded with bytes left over.
    #[error("trailing bytes after the body")]
    TrailingBytes,

    /// A sequence in the body is longer than its hard cap.
    #[error("{} over its cap", field.name())]
    OverCap {
        /// Which sequence.
        field: Field,
    },

    /// The body decoded but a value is not valid for the model or the frame.
    #[error("invalid value: {}", invalid.name())]
    Invalid {
        /// Which check failed.
        invalid: Invalid,
    },

    /// BUG! The caller passed the reserved nonce the key id derivation uses
    /// ([`crate::wire::KEY_ID_NONCE`]); nonces must be random. Nothing was
    /// encoded.
    #[error("BUG: the key id nonce is reserved; pass a random nonce")]
    ReservedNonce,
}

impl WireError {
    /// Every reason, in the order [`crate::wire::DropCounters`] lists them.
    pub const REASONS: [&'static str; 15] = [
        "too_short",
        "too_long",
        "bad_magic",
        "unsupported_version",
        "unknown_kind",
        "kind_not_in_version",
        "wrong_cluster",
        "unknown_key_id",
        "auth_failed",
        "replayed",
        "malformed",
        "trailing_bytes",
        "over_cap",
        "invalid",
        "reserved_nonce",
    ];

    /// Position of this error's reason in [`WireError::REASONS`].
    #[must_use]
    pub const fn index(&self) -> usize {
        match self {
            WireError::TooShort { .. } => 0,
            WireError::TooLong { .. } => 1,
            WireError::BadMagic => 2,
            WireError::UnsupportedVersion(_) => 3,
            WireError::UnknownKind(_) => 4,
            WireError::KindNotInVersion { .. } => 5,
            WireError::WrongCluster(_) => 6,
            WireError::UnknownKeyId(_) => 7,
            WireError::AuthFailed => 8,
            WireError::Replayed => 9,
            WireError::Malformed => 10,
            WireError::TrailingBytes => 11,
            WireError::OverCap { .. } => 12,
            WireError::Invalid { .. } => 13,
            WireError::ReservedNonce => 14,
        }
    }

    /// A short snake_case name for drop counters and logs.
    #[must_use]
    pub const fn reason(&self) -> &'static str {
        Self::REASONS[self.index()]
    }

    pub(crate) const fn invalid(invalid: Invalid) -> Self {
        WireError::Invalid { invalid }
    }

    pub(crate) const fn over_cap(field: Field) -> Self {
        WireError::OverCap { field }
    }
}

/// A capped sequence of the body (see `docs/wire.md`, "Limits and caps").
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    /// The frame's id table.
    Ids,
    /// Member entries of one message or world clock.
    Members,
    /// Spans of one member's coverage.
    Spans,
    /// Items of one message.
    Items,
    /// An announce's addresses.
    Addrs,
    /// An announce's window of heard nodes.
    Hears,
    /// An announce's window of group digests.
    Groups,
    /// An announce's island heads.
    Heads,
    /// A forward's distribution list.
    ForwardList,
    /// A frame's liveness rumors.
    Rumors,
}

impl Field {
    /// Lower-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Field::Ids => "id table",
            Field::Members => "member entries",
            Field::Spans => "coverage spans",
            Field::Items => "items",
            Field::Addrs => "addresses",
            Field::Hears => "hears window",
            Field::Groups => "groups window",
            Field::Heads => "island heads",
            Field::ForwardList => "forward list",
            Field::Rumors => "rumors",
        }
    }
}

/// Which validity check a decoded value failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Invalid {
    /// An id index past the frame's id table.
    IdIndex,
    /// A group name that is empty or longer than 255 bytes.
    GroupName,
    /// A clock span that is empty or overflows `u64`.
    Span,
    /// A key range whose start lies after its end.
    KeyRange,
    /// An item at clock 0.
    ZeroClock,
    /// An item flags byte with unknown bits set.
    ItemFlags,
    /// Two items with one identity in a message.
    DuplicateIdentity,
    /// Two items of one member at one clock.
    DuplicateClock,
    /// Member entries not in strictly ascending id order.
    MemberOrder,
    /// A member entry with neither coverage nor items.
    EmptyMember,
    /// A window whose offset or length does not fit its total.
    Window,
    /// A pull whose member range is reversed, or whose clock names a member
    /// outside it.
    PullPart,
    /// An announce whose `max_version` is below the frame's own version.
    MaxVersion,
    /// A rumor with an unknown liveness state byte.
    RumorState,
    /// Any other model refusal.
    Model,
}

impl Invalid {
    /// Lower-case name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Invalid::IdIndex => "id index past the id table",
            Invalid::GroupName => "group name",
            Invalid::Span => "clock span",
            Invalid::KeyRange => "key range",
            Invalid::ZeroClock => "clock 0",
            Invalid::ItemFlags => "item flags",
            Invalid::DuplicateIdentity => "duplicate identity",
            Invalid::DuplicateClock => "duplicate clock",
            Invalid::MemberOrder => "member order",
            Invalid::EmptyMember => "empty member entry",
            Invalid::Window => "window bounds",
            Invalid::PullPart => "pull member range",
            Invalid::MaxVersion => "announce max_version",
            Invalid::RumorState => "rumor state",
            Invalid::Model => "model value",
        }
    }
}

impl From<crate::model::ModelError> for Invalid {
    fn from(e: crate::model::ModelError) -> Self {
        use crate::model::ModelError as M;
        match e {
            M::InvalidRange { .. } => Invalid::KeyRange,
            M::ZeroClock => Invalid::ZeroClock,
            M::InvalidSpan { .. } => Invalid::Span,
            M::DuplicateClock { .. } => Invalid::DuplicateClock,
            M::DuplicateIdentity { .. } => Invalid::DuplicateIdentity,
            M::EmptyGroupName | M::GroupNameTooLong { .. } => Invalid::GroupName,
            _ => Invalid::Model,
        }
    }
}

impl From<crate::model::ModelError> for WireError {
    fn from(e: crate::model::ModelError) -> Self {
        WireError::invalid(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_small_copy_send_and_sync() {
        fn check<T: Copy + Send + Sync + 'static>() {}
        check::<WireError>();
        assert!(std::mem::size_of::<WireError>() <= 24);
    }

    #[test]
    fn every_reason_is_distinct() {
        let mut r = WireError::REASONS.to_vec();
        r.sort_unstable();
        r.dedup();
        assert_eq!(r.len(), WireError::REASONS.len());
        assert_eq!(WireError::Replayed.reason(), "replayed");
        assert_eq!(WireError::over_cap(Field::Spans).reason(), "over_cap");
    }
}
