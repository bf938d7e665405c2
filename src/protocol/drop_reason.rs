//! Why the protocol dropped a frame or a piece of work: one name per
//! reason, counted in [`super::Stats::drops`] (and so in the metrics and
//! `scalesmall status`) under [`DropReason::as_str`]. docs/wire.md,
//! section 10, lists every one (a test checks it).

use crate::wire::WireError;

/// A reason the protocol dropped a frame or a piece of work.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DropReason {
    /// The frame failed to decode, was not fresh, or could not be encoded
    /// ([`WireError::reason`] names which).
    Wire(WireError),
    /// Our own multicast, looped back.
    Own,
    /// A new member id from an address over its admission budget.
    Admission,
    /// An answer to a unicast frame over the sender address's budget.
    ReplyBudget,
    /// An own delta or a pull answer that could not be cut to the MTU.
    DeltaBudget,
    /// A delta of a group this node is not a member of.
    NotMember,
    /// A delta whose writes a cap or an expiry marker refused (whole
    /// members).
    RefusedMembers,
    /// A pull of a group this node is not a member of.
    PullNotMember,
    /// A pull over the per-member or per-address serve rate.
    PullRate,
    /// A tree forward with no live node left to take it.
    TreeDeadEnd,
    /// An own write refused: the own clock cannot go higher.
    ClockExhausted,
    /// Own writes undone because their state could not be made durable.
    NotPersisted,
    /// The checkpoint of writes being undone could not be restored.
    RestoreRefused,
}

impl DropReason {
    /// Every reason of the protocol's own (the wire's are
    /// [`WireError::REASONS`]).
    pub const PROTOCOL: [DropReason; 12] = [
        DropReason::Own,
        DropReason::Admission,
        DropReason::ReplyBudget,
        DropReason::DeltaBudget,
        DropReason::NotMember,
        DropReason::RefusedMembers,
        DropReason::PullNotMember,
        DropReason::PullRate,
        DropReason::TreeDeadEnd,
        DropReason::ClockExhausted,
        DropReason::NotPersisted,
        DropReason::RestoreRefused,
    ];

    /// The counter's name (snake_case; stable: metrics and docs use it).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            DropReason::Wire(e) => e.reason(),
            DropReason::Own => "own",
            DropReason::Admission => "admission",
            DropReason::ReplyBudget => "reply_budget",
            DropReason::DeltaBudget => "delta_budget",
            DropReason::NotMember => "not_member",
            DropReason::RefusedMembers => "refused_members",
            DropReason::PullNotMember => "pull_not_member",
            DropReason::PullRate => "pull_rate",
            DropReason::TreeDeadEnd => "tree_dead_end",
            DropReason::ClockExhausted => "clock_exhausted",
            DropReason::NotPersisted => "not_persisted",
            DropReason::RestoreRefused => "restore_refused",
        }
    }
}

impl From<WireError> for DropReason {
    fn from(e: WireError) -> Self {
        DropReason::Wire(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reasons as docs/wire.md section 10 lists them: `| `name` |`.
    fn documented() -> Vec<String> {
        let doc = include_str!("../../docs/wire.md");
        let section = doc
            .split("\n## 10. ")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .unwrap_or_default();
        section
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn docs_wire_md_lists_every_drop_reason() {
        let documented = documented();
        let every = DropReason::PROTOCOL
            .iter()
            .map(|r| r.as_str())
            .chain(WireError::REASONS);
        for name in every {
            assert!(
                documented.iter().any(|d| d == name),
                "docs/wire.md section 10 does not list the drop reason `{name}`"
            );
        }
        for d in &documented {
            assert!(
                DropReason::PROTOCOL.iter().any(|r| r.as_str() == d)
                    || WireError::REASONS.contains(&d.as_str()),
                "docs/wire.md section 10 lists `{d}`, which no drop reason is"
            );
        }
    }

    #[test]
    fn names_are_distinct_and_wire_errors_keep_theirs() {
        let mut names: Vec<&str> = DropReason::PROTOCOL.iter().map(|r| r.as_str()).collect();
        names.extend(WireError::REASONS);
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
        assert_eq!(
            DropReason::from(WireError::AuthFailed).as_str(),
            "auth_failed"
        );
    }
}
