//! `KeyAdmin`: the keyring commands of a running board (`scalesmall keys
//! install/use/remove/reset`). It decides each change from the keyring in
//! force, stores the result in the data dir's keyring file
//! ([`super::keyring`]) *before* the node uses it, and hands back the new
//! keyring for the protocol ([`crate::protocol::Chatter::set_keyring`]).
//! A change the disk refuses did not happen.
//!
//! Rules (docs/node.md, "Keys at run time"):
//! - `install KEY`: also accept frames sealed with KEY; installing a key
//!   already accepted changes nothing;
//! - `use ID`: seal with the installed key ID; an id not installed is
//!   refused (install it first);
//! - `remove ID`: stop accepting key ID; the key in use is refused (use
//!   another first); an id not installed changes nothing;
//! - `reset`: delete the keyring file and go back to the config's keys
//!   (`cluster.key_file` or `<data_dir>/cluster.key`, `accept_key_files`),
//!   refused if those cannot be read (the file then stays); never generates
//!   a key.
//!
//! Everything is refused under `--insecure`. Key material is never logged
//! or answered: only ids.

use std::io;
use std::path::{Path, PathBuf};

use tracing::info;

use crate::wire::{Key, Keyring};

use super::keyring;
use super::keys;

/// What the keys come from, as configured.
#[derive(Clone, Debug)]
pub struct KeySources {
    /// `--insecure`: every key command is refused.
    pub insecure: bool,
    /// `cluster.key_file` (else `<data_dir>/cluster.key`).
    pub key_file: Option<PathBuf>,
    /// `cluster.accept_key_files`.
    pub accept: Vec<PathBuf>,
    /// The data dir (the keyring file lives there).
    pub data_dir: PathBuf,
}

/// A keyring command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOp {
    /// Accept this key too.
    Install(Key),
    /// Seal with the installed key of this id.
    Use(u32),
    /// Stop accepting the key of this id.
    Remove(u32),
    /// Back to the config's keys.
    Reset,
}

/// What a command did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The keyring to use from now on, if it changed (already stored).
    pub ring: Option<Keyring>,
    /// The id of the key `install` was given.
    pub installed: Option<u32>,
}

/// Stores a keyring in a data dir (the real one, or a failing one in tests).
pub type Saver = fn(&Path, &Keyring) -> io::Result<()>;

/// The keyring commands of one board (see the module docs).
#[derive(Clone, Debug)]
pub struct KeyAdmin {
    sources: KeySources,
    save: Saver,
}

/// A key id as `keys list` prints it: `0x` and 8 hex digits.
#[must_use]
pub fn show_id(id: u32) -> String {
    format!("{id:#010x}")
}

/// Parses a key id: 8 hex digits, `0x` optional (as `keys list` and
/// `keygen` print it).
///
/// # Errors
/// A message saying what a key id looks like.
pub fn parse_id(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let hex = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if hex.is_empty() || hex.len() > 8 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{text:?} is not a key id: expected 8 hex digits, 0x optional, as `scalesmall keys list` \
             prints them (e.g. 0x1a2b3c4d)"
        ));
    }
    u32::from_str_radix(hex, 16).map_err(|e| format!("{text:?} is not a key id: {e}"))
}

impl KeyAdmin {
    /// The commands for a node configured with `sources`.
    #[must_use]
    pub fn new(sources: KeySources) -> Self {
        Self {
            sources,
            save: keyring::save,
        }
    }

    /// Stores through `save` instead (tests: a disk that refuses).
    #[must_use]
    pub fn with_saver(mut self, save: Saver) -> Self {
        self.save = save;
        self
    }

    /// The keyring file's path.
    #[must_use]
    pub fn file(&self) -> PathBuf {
        keyring::path(&self.sources.data_dir)
    }

    /// Whether the keyring file is in force (it exists).
    #[must_use]
    pub fn from_file(&self) -> bool {
        self.file().exists()
    }

    /// Why key commands are refused here, if they are.
    #[must_use]
    pub fn refusal(&self) -> Option<String> {
        self.sources.insecure.then(|| {
            "this node runs --insecure (no key): key commands are refused; configure a key \
             (cluster.key_file) and restart without --insecure"
                .to_owned()
        })
    }

    /// Carries out `op` on the keyring in force, `current`.
    ///
    /// # Errors
    /// Why it was refused (nothing changed): insecure mode, an id not
    /// installed, the key in use, the keyring file not stored, the
    /// config's keys unreadable for `reset`.
    pub fn apply(&self, current: &Keyring, op: KeyOp) -> Result<Outcome, String> {
        if let Some(r) = self.refusal() {
            return Err(r);
        }
        let mut ring = current.clone();
        let mut installed = None;
        match op {
            KeyOp::Install(key) => {
                installed = Some(key.id());
                if current.accepted().contains(&key) {
                    return Ok(Outcome {
                        ring: None,
                        installed,
                    });
                }
                ring.accept(key);
            }
            KeyOp::Use(id) => {
                let Some(key) = current.with_id(id).next().cloned() else {
                    return Err(format!(
                        "no key with id {} is installed on this board (installed: {}); install it \
                         first with `scalesmall keys install FILE`",
                        show_id(id),
                        ids(current).join(", ")
                    ));
                };
                if current.primary().id() == id {
                    return Ok(unchanged());
                }
                ring.set_primary(key);
            }
            KeyOp::Remove(id) => {
                if current.primary().id() == id {
                    return Err(format!(
                        "key {} is the one this board sends with: `scalesmall keys use` another \
                         installed key first",
                        show_id(id)
                    ));
                }
                if !ring.retire(id) {
                    return Ok(unchanged());
                }
            }
            KeyOp::Reset => return self.reset(),
        }
        (self.save)(&self.sources.data_dir, &ring).map_err(|e| {
            format!(
                "not persisted: write {}: {e} (nothing changed; retry once the data dir is writable)",
                self.file().display()
            )
        })?;
        log_change(
            &ring,
            "keyring changed (stored in the keyring file, which overrides the configured keys)",
        );
        Ok(Outcome {
            ring: Some(ring),
            installed,
        })
    }

    /// `reset`: the config's keys, then the file deleted.
    fn reset(&self) -> Result<Outcome, String> {
        if !self.from_file() {
            return Ok(unchanged());
        }
        let s = &self.sources;
        let (ring, _) = keys::load_configured(s.key_file.as_deref(), &s.accept, &s.data_dir, false)
            .map_err(|e| {
                format!(
                    "cannot go back to the configured keys: {e}; the keyring file {} stays in force",
                    self.file().display()
                )
            })?;
        keyring::remove(&s.data_dir).map_err(|e| {
            format!(
                "cannot delete {}: {e} (nothing changed)",
                self.file().display()
            )
        })?;
        log_change(&ring, "keyring file deleted: back to the configured keys");
        Ok(Outcome {
            ring: Some(ring),
            installed: None,
        })
    }
}

/// One log line per change: the key ids in force (never a key).
#[inline(never)]
fn log_change(ring: &Keyring, what: &str) {
    info!(
        primary = %show_id(ring.primary().id()),
        accepted = %ids(ring).join(","),
        "{what}"
    );
}

const fn unchanged() -> Outcome {
    Outcome {
        ring: None,
        installed: None,
    }
}

/// Every accepted key id, the primary first, as shown.
#[must_use]
pub fn ids(ring: &Keyring) -> Vec<String> {
    ring.accepted().iter().map(|k| show_id(k.id())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("scalesmall-keyadmin-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn key(b: u8) -> Key {
        Key::from_bytes([b; 32])
    }

    fn admin(d: &Path) -> KeyAdmin {
        let file = d.join("config.key");
        std::fs::write(&file, format!("{}\n", key(1).to_base64())).unwrap();
        KeyAdmin::new(KeySources {
            insecure: false,
            key_file: Some(file),
            accept: Vec::new(),
            data_dir: d.to_path_buf(),
        })
    }

    #[test]
    fn a_rotation_goes_through_the_file_and_back_with_reset() {
        let d = dir("rotate");
        let a = admin(&d);
        let start = Keyring::new(key(1));
        assert!(!a.from_file());
        let out = a.apply(&start, KeyOp::Install(key(2))).unwrap();
        assert_eq!(out.installed, Some(key(2).id()));
        let r1 = out.ring.unwrap();
        assert_eq!(r1.primary(), &key(1));
        assert!(a.from_file());
        assert_eq!(keyring::load(&d).unwrap(), Some(r1.clone()));
        // Installing it again changes nothing.
        let again = a.apply(&r1, KeyOp::Install(key(2))).unwrap();
        assert_eq!(again.ring, None);
        let r2 = a.apply(&r1, KeyOp::Use(key(2).id())).unwrap().ring.unwrap();
        assert_eq!(r2.primary(), &key(2));
        assert_eq!(a.apply(&r2, KeyOp::Use(key(2).id())).unwrap().ring, None);
        let r3 = a
            .apply(&r2, KeyOp::Remove(key(1).id()))
            .unwrap()
            .ring
            .unwrap();
        assert_eq!(r3.accepted(), &[key(2)]);
        assert_eq!(keyring::load(&d).unwrap(), Some(r3.clone()));
        assert_eq!(a.apply(&r3, KeyOp::Remove(key(1).id())).unwrap().ring, None);
        // Reset: the config's key, the file gone.
        let back = a.apply(&r3, KeyOp::Reset).unwrap().ring.unwrap();
        assert_eq!(back, Keyring::new(key(1)));
        assert!(!a.from_file());
        assert_eq!(a.apply(&back, KeyOp::Reset).unwrap().ring, None);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn refusals_say_why_and_change_nothing() {
        let d = dir("refuse");
        let a = admin(&d);
        let ring = Keyring::new(key(1)).with_accepted(key(2));
        let e = a.apply(&ring, KeyOp::Use(key(3).id())).unwrap_err();
        assert!(
            e.contains("no key with id") && e.contains(&show_id(key(2).id())),
            "{e}"
        );
        let e = a.apply(&ring, KeyOp::Remove(key(1).id())).unwrap_err();
        assert!(e.contains("sends with"), "{e}");
        assert!(!a.from_file());
        // A disk that refuses: nothing stored, nothing to use.
        let failing = a
            .clone()
            .with_saver(|_, _| Err(io::Error::other("Read-only file system")));
        let e = failing.apply(&ring, KeyOp::Install(key(3))).unwrap_err();
        assert!(
            e.contains("not persisted") && e.contains("Read-only"),
            "{e}"
        );
        assert!(!a.from_file());
        // Insecure: refused whatever the command.
        let mut s = a.sources.clone();
        s.insecure = true;
        let e = KeyAdmin::new(s)
            .apply(&ring, KeyOp::Install(key(3)))
            .unwrap_err();
        assert!(e.contains("--insecure"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn reset_refuses_when_the_config_keys_are_gone_and_keeps_the_file() {
        let d = dir("reset");
        let a = admin(&d);
        let r = a
            .apply(&Keyring::new(key(1)), KeyOp::Install(key(2)))
            .unwrap()
            .ring
            .unwrap();
        std::fs::remove_file(d.join("config.key")).unwrap();
        let e = a.apply(&r, KeyOp::Reset).unwrap_err();
        assert!(
            e.contains("config.key") && e.contains("stays in force"),
            "{e}"
        );
        assert!(a.from_file());
        // No key configured and none in the data dir: never generated.
        let mut s = a.sources.clone();
        s.key_file = None;
        let e = KeyAdmin::new(s).apply(&r, KeyOp::Reset).unwrap_err();
        assert!(e.contains("cluster.key"), "{e}");
        assert!(!d.join("cluster.key").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn ids_parse_as_printed() {
        assert_eq!(parse_id("0x1a2b3c4d"), Ok(0x1a2b_3c4d));
        assert_eq!(parse_id("1A2B3C4D"), Ok(0x1a2b_3c4d));
        assert_eq!(parse_id(&show_id(7)), Ok(7));
        for bad in ["", "0x", "0x123456789", "xyz", "-1", "0x 1"] {
            assert!(parse_id(bad).unwrap_err().contains("8 hex digits"), "{bad}");
        }
    }
}
