//! The runtime keyring file, `<data_dir>/keyring`: the keys `scalesmall
//! keys install/use/remove` set on this board while it runs. Once it
//! exists it overrides `cluster.key_file` and `accept_key_files` (also at
//! the next start); `scalesmall keys reset` deletes it and the node goes
//! back to the configured keys (docs/node.md, "Keys at run time").
//!
//! A text file, so an operator can see what it is (but not a place to edit
//! by hand: the last line checks the others):
//!
//! ```text
//! # scalesmall keyring ... (a comment saying what the file is)
//! primary <44 characters of base64>
//! accept <44 characters of base64>
//! check <16 hex digits: xxh3-64 of every byte above this line>
//! ```
//!
//! It holds secrets: written crash-safe ([`super::fs`]: temp, fsync,
//! rename, fsync dir) with mode 0600 from the first byte; a world-writable
//! one is refused as a key file is. A damaged file (torn, truncated,
//! altered) is an error naming it and what to do, never silently ignored:
//! falling back to the configured keys could cut the board off.

use std::io;
use std::path::{Path, PathBuf};

use crate::wire::{Key, Keyring};

use super::error::NodeError;
use super::fs::{Step, write_atomic_mode_with};

/// The file's name in the data dir.
pub const KEYRING_FILE: &str = "keyring";

const HEADER: &str = "# scalesmall keyring: written by `scalesmall keys` (install, use, remove); while it \
exists it overrides cluster.key_file and accept_key_files; `scalesmall keys reset` deletes it. SECRET \
(mode 0600). Do not edit: the check line covers every line above it.\n";

/// What to do about a damaged keyring file.
const ADVICE: &str = "It holds the keys `scalesmall keys` set on this board and overrides \
cluster.key_file. Restore it from a backup, or delete it to go back to the configured keys \
(cluster.key_file, accept_key_files): make sure they are the cluster's keys first";

/// Where the keyring file of `data_dir` is.
#[must_use]
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEYRING_FILE)
}

/// The file's content for `ring`.
#[must_use]
pub fn encode(ring: &Keyring) -> String {
    let mut out = String::from(HEADER);
    for (i, k) in ring.accepted().iter().enumerate() {
        out.push_str(if i == 0 { "primary " } else { "accept " });
        out.push_str(&k.to_base64());
        out.push('\n');
    }
    let sum = xxhash_rust::xxh3::xxh3_64(out.as_bytes());
    out.push_str(&format!("check {sum:016x}\n"));
    out
}

/// Parses and checks a keyring file's content.
///
/// # Errors
/// What is wrong (no check line, checksum mismatch, a bad line or key, no
/// or two primaries), for a human.
pub fn decode(bytes: &[u8]) -> Result<Keyring, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned())?;
    let body_end = text.trim_end_matches('\n').rfind('\n').map_or(0, |i| i + 1);
    let (body, last) = text.split_at(body_end);
    let Some(sum) = last.trim_end().strip_prefix("check ") else {
        return Err("no check line at the end (truncated?)".to_owned());
    };
    let want = u64::from_str_radix(sum.trim(), 16)
        .map_err(|_| format!("check line {:?} is not 16 hex digits", last.trim_end()))?;
    if xxhash_rust::xxh3::xxh3_64(body.as_bytes()) != want {
        return Err("checksum mismatch (a torn or altered write)".to_owned());
    }
    let mut primary: Option<Key> = None;
    let mut accepted = Vec::new();
    for (n, line) in body.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (word, value) = line.split_once(' ').unwrap_or((line, ""));
        let key = Key::from_base64(value).map_err(|e| format!("line {}: {e}", n + 1))?;
        match word {
            "primary" if primary.is_none() => primary = Some(key),
            "primary" => return Err(format!("line {}: a second primary key", n + 1)),
            "accept" => accepted.push(key),
            other => return Err(format!("line {}: unknown word {other:?}", n + 1)),
        }
    }
    let mut ring = Keyring::new(primary.ok_or("no primary key")?);
    for k in accepted {
        ring.accept(k);
    }
    Ok(ring)
}

/// The keyring stored in `data_dir`, if the file exists.
///
/// # Errors
/// [`NodeError::Key`] naming the file: unreadable, world-writable, or
/// damaged (with what to do).
pub fn load(data_dir: &Path) -> Result<Option<Keyring>, NodeError> {
    let p = path(data_dir);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(NodeError::Key {
                path: p,
                problem: format!("cannot read the keyring: {e}"),
            });
        }
    };
    super::keys::check_mode(&p)?;
    decode(&bytes).map(Some).map_err(|why| NodeError::Key {
        problem: format!("the keyring file is damaged: {why}. {ADVICE}"),
        path: p,
    })
}

/// Stores `ring` crash-safely, mode 0600.
///
/// # Errors
/// The I/O error of the failing step; the previous file is intact.
pub fn save(data_dir: &Path, ring: &Keyring) -> io::Result<()> {
    save_with(data_dir, ring, |_| Ok(()))
}

/// [`save`] with a hook before each step (tests inject failures there).
///
/// # Errors
/// As [`save`].
pub fn save_with(
    data_dir: &Path,
    ring: &Keyring,
    before: impl FnMut(Step) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic_mode_with(
        &path(data_dir),
        encode(ring).as_bytes(),
        Some(0o600),
        before,
    )
}

/// Deletes the keyring file (and flushes the directory); whether it was
/// there.
///
/// # Errors
/// The I/O error of the unlink or the directory flush.
pub fn remove(data_dir: &Path) -> io::Result<bool> {
    match std::fs::remove_file(path(data_dir)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    std::fs::File::open(data_dir)?.sync_all()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::fs::temp_path;

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("scalesmall-keyring-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn ring() -> Keyring {
        Keyring::new(Key::from_bytes([7; 32]))
            .with_accepted(Key::from_bytes([8; 32]))
            .with_accepted(Key::from_bytes([9; 32]))
    }

    #[test]
    fn round_trips_in_order_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmpdir("round");
        assert!(load(&d).unwrap().is_none());
        // A stale temporary file readable by all must not leak its mode.
        std::fs::write(temp_path(&path(&d)), "old").unwrap();
        std::fs::set_permissions(temp_path(&path(&d)), std::fs::Permissions::from_mode(0o644))
            .unwrap();
        save(&d, &ring()).unwrap();
        assert_eq!(load(&d).unwrap(), Some(ring()));
        let mode = std::fs::metadata(path(&d)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(remove(&d).unwrap());
        assert!(!remove(&d).unwrap());
        assert!(load(&d).unwrap().is_none());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_torn_write_leaves_the_old_keyring() {
        let d = tmpdir("torn");
        let old = Keyring::new(Key::from_bytes([1; 32]));
        save(&d, &old).unwrap();
        for step in [Step::Write, Step::Fsync, Step::Rename] {
            let err = save_with(&d, &ring(), |s| {
                if s == step {
                    Err(io::Error::other("injected"))
                } else {
                    Ok(())
                }
            });
            assert!(err.is_err(), "{step:?}");
            assert_eq!(load(&d).unwrap(), Some(old.clone()), "{step:?}");
        }
        // Torn on disk (half the new content, as a crash without the
        // rename's guarantee would leave): refused, named, explained.
        let full = encode(&ring());
        std::fs::write(path(&d), &full[..full.len() / 2]).unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(
            e.contains("keyring") && e.contains("damaged") && e.contains("delete it"),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_damaged_keyring_is_named_and_never_read_as_another_key() {
        let good = encode(&ring());
        // One flipped base64 character would be another valid key.
        let flipped = good.replacen("primary B", "primary C", 1);
        assert_ne!(flipped, good);
        assert!(decode(flipped.as_bytes()).unwrap_err().contains("checksum"));
        assert!(decode(b"").unwrap_err().contains("no check line"));
        assert!(decode(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
        let no_primary = {
            let mut s = String::from("accept ");
            s.push_str(&Key::from_bytes([3; 32]).to_base64());
            s.push('\n');
            let sum = xxhash_rust::xxh3::xxh3_64(s.as_bytes());
            format!("{s}check {sum:016x}\n")
        };
        assert_eq!(decode(no_primary.as_bytes()).unwrap_err(), "no primary key");
        let zero = {
            let s = format!("primary {}\n", "A".repeat(43) + "=");
            let sum = xxhash_rust::xxh3::xxh3_64(s.as_bytes());
            format!("{s}check {sum:016x}\n")
        };
        assert!(decode(zero.as_bytes()).unwrap_err().contains("insecure"));
    }

    #[test]
    fn a_world_writable_keyring_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let d = tmpdir("mode");
        save(&d, &ring()).unwrap();
        std::fs::set_permissions(path(&d), std::fs::Permissions::from_mode(0o666)).unwrap();
        let e = load(&d).unwrap_err().to_string();
        assert!(e.contains("mode 0666") && e.contains("keyring"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
