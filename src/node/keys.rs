//! The cluster keyring: the configured key file, or a key generated into the
//! data dir on first start (and how to share it), plus accepted keys for
//! rotation; or insecure mode, only when asked for by name.

use std::path::{Path, PathBuf};

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
}

fn read_key(path: &Path) -> Result<Key, NodeError> {
    let text = std::fs::read_to_string(path).map_err(|e| NodeError::Key {
        path: path.to_path_buf(),
        problem: format!(
            "{e}; create one with `scalesmall keygen > {}` and copy the same file to every board",
            path.display()
        ),
    })?;
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
        return Ok((Keyring::insecure(), KeySource::Insecure));
    }
    let (primary, source) = match key_file {
        Some(p) => (read_key(p)?, KeySource::File(p.to_path_buf())),
        None => {
            let p = data_dir.join("cluster.key");
            if p.exists() {
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
}
