//! Bounded sequences: how the body decoder reads every list.
//!
//! serde's own `Vec<T>` visitor trusts the declared count for its initial
//! capacity (capped by serde at a size, not by us); a hostile frame could
//! declare four billion entries. [`capped`] is the `deserialize_with` for
//! every sequence in a body instead:
//! - it never preallocates from the declared count: the initial capacity is
//!   at most [`INITIAL_CAPACITY`];
//! - every element type consumes at least one byte ([`Element`]), so the
//!   elements read are bounded by the bytes present;
//! - it keeps at most `CAP + 1` elements: past the cap it goes on reading
//!   (and dropping) elements so the reader stays in step, and the decoder
//!   then refuses the frame as [`crate::wire::WireError::OverCap`] (see
//!   [`check`]).

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, SeqAccess, Visitor};

use super::error::{Field, WireError};

/// Largest initial capacity of a decoded sequence.
pub(crate) const INITIAL_CAPACITY: usize = 16;

/// Element types of a bounded sequence: each encodes to at least one byte,
/// so a declared count can never make the decoder loop without consuming.
pub(crate) trait Element {}

impl Element for [u8; 8] {}
impl Element for u32 {}

/// Reads a sequence keeping at most `CAP + 1` elements.
pub(crate) fn capped<'de, const CAP: usize, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Element,
{
    d.deserialize_seq(CappedVisitor::<CAP, T>(PhantomData))
}

struct CappedVisitor<const CAP: usize, T>(PhantomData<T>);

impl<'de, const CAP: usize, T> Visitor<'de> for CappedVisitor<CAP, T>
where
    T: Deserialize<'de> + Element,
{
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a sequence of at most {CAP} elements")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let hint = seq.size_hint().unwrap_or(0);
        let mut out = Vec::with_capacity(hint.min(INITIAL_CAPACITY).min(CAP + 1));
        while let Some(x) = seq.next_element::<T>()? {
            if out.len() <= CAP {
                out.push(x);
            }
        }
        Ok(out)
    }
}

/// Refuses a sequence over its cap (decoded with [`capped`], or about to be
/// encoded).
pub(crate) fn check<T>(v: &[T], cap: usize, field: Field) -> Result<(), WireError> {
    if v.len() > cap {
        return Err(WireError::over_cap(field));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Ids {
        #[serde(deserialize_with = "capped::<3, _, _>")]
        v: Vec<u32>,
    }

    #[test]
    fn keeps_at_most_cap_plus_one_and_never_trusts_the_count() {
        // Declared 5, present 5: 4 kept, flagged by `check`.
        let (ids, rest) = postcard::take_from_bytes::<Ids>(&[5, 1, 2, 3, 4, 5]).unwrap();
        assert!(rest.is_empty());
        assert_eq!(ids.v, vec![1, 2, 3, 4]);
        assert_eq!(
            check(&ids.v, 3, Field::Ids),
            Err(WireError::over_cap(Field::Ids))
        );
        // Declared 2^32 - 1, present 2: cut short, no huge allocation.
        assert!(postcard::take_from_bytes::<Ids>(&[0xff, 0xff, 0xff, 0xff, 0x0f, 1, 2]).is_err());
        let (ids, _) = postcard::take_from_bytes::<Ids>(&[2, 7, 8]).unwrap();
        assert_eq!(ids.v, vec![7, 8]);
        assert_eq!(check(&ids.v, 3, Field::Ids), Ok(()));
    }
}
