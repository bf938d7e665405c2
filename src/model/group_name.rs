//! `GroupName`: the name of a group, validated once.
//!
//! Non-empty UTF-8 of at most 255 bytes, so the wire can carry its length in
//! one byte and a hostile peer cannot make a node store megabyte names.

use std::borrow::Borrow;
use std::fmt;

use super::error::ModelError;

/// A valid group name.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupName(Box<str>);

impl GroupName {
    /// Longest name, in bytes of UTF-8.
    pub const MAX_LEN: usize = 255;

    /// Validates `name`.
    ///
    /// # Errors
    /// [`ModelError::EmptyGroupName`] or [`ModelError::GroupNameTooLong`].
    pub fn new(name: &str) -> Result<Self, ModelError> {
        if name.is_empty() {
            return Err(ModelError::EmptyGroupName);
        }
        if name.len() > Self::MAX_LEN {
            return Err(ModelError::GroupNameTooLong { len: name.len() });
        }
        Ok(Self(name.into()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for GroupName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for GroupName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl TryFrom<&str> for GroupName {
    type Error = ModelError;

    fn try_from(s: &str) -> Result<Self, ModelError> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_one_to_255_bytes() {
        assert_eq!(GroupName::new(""), Err(ModelError::EmptyGroupName));
        assert!(GroupName::new("a").is_ok());
        assert!(GroupName::new(&"x".repeat(255)).is_ok());
        assert_eq!(
            GroupName::new(&"x".repeat(256)),
            Err(ModelError::GroupNameTooLong { len: 256 })
        );
        // Bytes, not characters: 128 two-byte characters are 256 bytes.
        assert!(GroupName::new(&"é".repeat(128)).is_err());
    }
}
