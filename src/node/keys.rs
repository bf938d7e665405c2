//! The cluster keyring: the runtime keyring file if `scalesmall keys` made
//! one ([`super::keyring`]; it overrides the rest), else the configured key
//! file, or a key generated into the data dir on first start (and how to
//! share it), plus accepted keys for rotation; or insecure mode, only when
//! asked for by name.
//!
//! Key file permissions: the file is a secret shared by the cluster, so it
//! must not be replaceable by every user of the board (world-writable: an
//! error) and should not be readable by all (world-readable: a warning).
//! Owner and group bits are the operator's business: the Ansible role's
//! `0640 root:scalesmall` (the node runs in group `scalesmall`) is the
//! intended setup, and `0600` owned by the node's user works as well.

use std::path::{Path, PathBuf};

use tracing::warn;

use crate::wire::{Key, Keyring};

use super::error::NodeError;

/// Where the keyring came from, for the start-up message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// Insecure mode: no key.
    Insecure,
    /// The configured file.
    File(PathBuf),
    /// An existing key in the data dir.
    DataDir(PathBuf),
    /// A key just generated into the data dir.
    Generated(PathBuf),
    /// The runtime keyring file (`scalesmall keys`), overriding the config.
    Keyring(PathBuf),
}

/// What a key file's permission bits allow others.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMode {
    /// Neither world-readable nor world-writable (e.g. 0600, 0640, 0660).
    Private,
    /// Every user of the board can read it: accepted, with a warning.
    WorldReadable,
    /// Every user of the board can replace it: refused.
    WorldWritable,
}

/// Classifies a key file's mode bits (`st_mode`; only the "other" bits
/// matter).
#[must_use]
pub const fn key_mode(mode: u32) -> KeyMode {
    if mode & 0o002 != 0 {
        KeyMode::WorldWritable
    } else if mode & 0o004 != 0 {
        KeyMode::WorldReadable
    } else {
        KeyMode::Private
    }
}

/// Refuses a world-writable key file, warns about a world-readable one.
pub(super) fn check_mode(path: &Path) -> Result<(), NodeError> {
    use std::os::unix::fs::PermissionsExt;
    // The file was just read; if its metadata is gone now, the read stands.
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let mode = meta.permissions().mode();
    match key_mode(mode) {
        KeyMode::Private => Ok(()),
        KeyMode::WorldReadable => {
            warn!(
                path = %path.display(),
                mode = format_args!("{:04o}", mode & 0o7777),
                "the cluster key file is readable by every user of this board: \
                 chmod 0640 it and give it group scalesmall (or chmod 0600 for the node's user)"
            );
            Ok(())
        }
        KeyMode::WorldWritable => Err(NodeError::Key {
            path: path.to_path_buf(),
            problem: format!(
                "mode {:04o}: every user of this board can replace the cluster key; \
                 chmod 0640 it and give it group scalesmall (or chmod 0600 for the node's user)",
                mode & 0o7777
            ),
        }),
    }
}

#[inline(never)]
fn read_key(path: &Path) -> Result<Key, NodeError> {
    let text = std::fs::read_to_string(path).map_err(|e| NodeError::Key {
        path: path.to_path_buf(),
        problem: format!(
            "{e}; create one with `scalesmall keygen > {}` and copy the same file to every board",
            path.display()
        ),
    })?;
    check_mode(path)?;
    Key::from_base64(text.trim()).map_err(|e| NodeError::Key {
        path: path.to_path_buf(),
        problem: format!("{e}; a key file holds one line of base64 from `scalesmall keygen`"),
    })
}

/// Builds the keyring.
///
/// # Errors
/// [`NodeError::Key`] for an unreadable or invalid key file,
/// [`NodeError::Entropy`] if a new key cannot be drawn.
pub fn load(
    insecure: bool,
    key_file: Option<&Path>,
    accept: &[PathBuf],
    data_dir: &Path,
) -> Result<(Keyring, KeySource), NodeError> {
    if insecure {
        if super::keyring::path(data_dir).exists() {
            warn!(
                keyring = %super::keyring::path(data_dir).display(),
                "--insecure: the keyring file is ignored (insecure mode asked for by name wins)"
            );
        }
        return Ok((Keyring::insecure(), KeySource::Insecure));
    }
    if let Some(ring) = super::keyring::load(data_dir)? {
        return Ok((ring, KeySource::Keyring(super::keyring::path(data_dir))));
    }
    load_configured(key_file, accept, data_dir, true)
}

/// The keys the config names, ignoring any keyring file: `key_file` (else
/// `<data_dir>/cluster.key`, generated if missing and `generate`) and the
/// accepted files. `scalesmall keys reset` goes back to these (never
/// generating: a new random key would cut the board off).
///
/// # Errors
/// As [`load`]; without `generate`, a missing data-dir key is an error.
pub fn load_configured(
    key_file: Option<&Path>,
    accept: &[PathBuf],
    data_dir: &Path,
    generate: bool,
) -> Result<(Keyring, KeySource), NodeError> {
    let (primary, source) = match key_file {
        Some(p) => (read_key(p)?, KeySource::File(p.to_path_buf())),
        None => {
            let p = data_dir.join("cluster.key");
            if p.exists() || !generate {
                (read_key(&p)?, KeySource::DataDir(p))
            } else {
                let mut bytes = [0u8; 32];
                getrandom::fill(&mut bytes).map_err(|e| NodeError::Entropy(e.to_string()))?;
                let key = Key::from_bytes(bytes);
                write_secret(&p, format!("{}\n", key.to_base64()).as_bytes())?;
                (key, KeySource::Generated(p))
            }
        }
    };
    let mut ring = Keyring::new(primary);
    for a in accept {
        ring.accept(read_key(a)?);
    }
    Ok((ring, source))
}

/// Writes a secret file readable by its owner only.
fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), NodeError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = |e: std::io::Error| NodeError::Key {
        path: path.to_path_buf(),
        problem: format!("cannot write a new key: {e}"),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(err)?;
    f.write_all(bytes).map_err(err)?;
    f.sync_all().map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_once_then_reuses_and_explains_bad_files() {
        let d = std::env::temp_dir().join(format!("scalesmall-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let (a, s) = load(false, None, &[], &d).unwrap();
        assert!(matches!(s, KeySource::Generated(_)));
        let (b, s) = load(false, None, &[], &d).unwrap();
        assert!(matches!(s, KeySource::DataDir(_)));
        assert_eq!(a.primary().id(), b.primary().id());
        let bad = d.join("bad.key");
        std::fs::write(&bad, "not base64!").unwrap();
        let err = load(false, Some(&bad), &[], &d).unwrap_err().to_string();
        assert!(err.contains("bad.key") && err.contains("keygen"), "{err}");
        let err = load(false, Some(&d.join("missing.key")), &[], &d)
            .unwrap_err()
            .to_string();
        assert!(err.contains("scalesmall keygen >"), "{err}");
        assert!(load(true, None, &[], &d).unwrap().0.is_insecure());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_keyring_file_overrides_the_configured_keys_once_it_exists() {
        let d = std::env::temp_dir().join(format!("scalesmall-keyover-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let file = d.join("cluster.key");
        std::fs::write(&file, format!("{}\n", Key::from_bytes([1; 32]).to_base64())).unwrap();
        let (r, s) = load(false, Some(&file), &[], &d).unwrap();
        assert_eq!(r.primary(), &Key::from_bytes([1; 32]));
        assert_eq!(s, KeySource::File(file.clone()));
        let stored = Keyring::new(Key::from_bytes([2; 32])).with_accepted(Key::from_bytes([1; 32]));
        super::super::keyring::save(&d, &stored).unwrap();
        let (r, s) = load(false, Some(&file), &[], &d).unwrap();
        assert_eq!(r, stored);
        assert_eq!(s, KeySource::Keyring(super::super::keyring::path(&d)));
        // Insecure mode asked for by name still wins.
        assert!(load(true, Some(&file), &[], &d).unwrap().0.is_insecure());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn only_the_other_bits_of_a_key_mode_matter() {
        for m in [0o600, 0o640, 0o660, 0o400, 0o440, 0o100_640] {
            assert_eq!(key_mode(m), KeyMode::Private, "{m:o}");
        }
        for m in [0o644, 0o604, 0o444, 0o100_644] {
            assert_eq!(key_mode(m), KeyMode::WorldReadable, "{m:o}");
        }
        for m in [0o666, 0o602, 0o642, 0o100_666] {
            assert_eq!(key_mode(m), KeyMode::WorldWritable, "{m:o}");
        }
    }

    #[test]
    fn a_group_readable_key_file_is_accepted_a_world_writable_one_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("scalesmall-keymode-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let (ring, _) = load(false, None, &[], &d).unwrap();
        let text = format!("{}\n", ring.primary().to_base64());
        let key = d.join("shared.key");
        std::fs::write(&key, &text).unwrap();
        let chmod = |m: u32| {
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(m)).unwrap();
        };
        for m in [0o640, 0o600, 0o644] {
            chmod(m);
            let (r, s) = load(false, Some(&key), &[], &d).unwrap();
            assert_eq!(r.primary().id(), ring.primary().id(), "{m:o}");
            assert_eq!(s, KeySource::File(key.clone()));
            // As an accepted (rotation) key too.
            assert!(load(false, Some(&key), std::slice::from_ref(&key), &d).is_ok());
        }
        chmod(0o666);
        let err = load(false, Some(&key), &[], &d).unwrap_err().to_string();
        assert!(
            err.contains("shared.key") && err.contains("mode 0666") && err.contains("chmod 0640"),
            "{err}"
        );
        chmod(0o640);
        let accepted = d.join("old.key");
        std::fs::write(&accepted, &text).unwrap();
        std::fs::set_permissions(&accepted, std::fs::Permissions::from_mode(0o622)).unwrap();
        let err = load(false, Some(&key), std::slice::from_ref(&accepted), &d)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("old.key") && err.contains("mode 0622"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
