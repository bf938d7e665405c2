//! `Fs`: the few file operations the store needs, behind a trait so tests
//! can inject failures (a full disk, a failed fsync, a torn write).
//!
//! The real implementation writes crash-safe: a temporary file in the same
//! directory, fsync, rename over the target, fsync the directory. After a
//! crash at any point the target holds either the old or the new content,
//! never a mix.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The steps of a crash-safe write, in order (a fault injector fails one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Creating and writing the temporary file.
    Write,
    /// Flushing it to the disk.
    Fsync,
    /// Renaming it over the target.
    Rename,
    /// Flushing the directory entry.
    FsyncDir,
}

/// File access for the store.
pub trait Fs: Send + Sync {
    /// The file's bytes, or `None` if it does not exist.
    ///
    /// # Errors
    /// Any I/O error other than "not found".
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>>;

    /// Replaces the file's content crash-safely.
    ///
    /// # Errors
    /// The I/O error of the step that failed; the old content is intact.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()>;
}

/// The real file system.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealFs;

/// The temporary file a crash-safe write of `path` uses.
#[must_use]
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

impl Fs for RealFs {
    fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
        match fs::read(path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        write_atomic_with(path, bytes, |_| Ok(()))
    }
}

/// A crash-safe write that calls `before(step)` ahead of each step (the
/// fault injector's hook; the real one does nothing).
///
/// # Errors
/// The error of the failing step.
pub fn write_atomic_with(
    path: &Path,
    bytes: &[u8],
    before: impl FnMut(Step) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic_mode_with(path, bytes, None, before)
}

/// [`write_atomic_with`] for a secret: the temporary file (so the target)
/// gets exactly `mode` (e.g. `0o600`) before a byte is written, also when a
/// stale temporary file of another mode is in the way. `None`: the
/// default mode (0666 less the umask).
///
/// # Errors
/// The error of the failing step.
pub fn write_atomic_mode_with(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
    mut before: impl FnMut(Step) -> io::Result<()>,
) -> io::Result<()> {
    write_atomic_dyn(path, bytes, mode, &mut before)
}

/// The one body of the crash-safe writes (not generic: one copy in the
/// binary whatever the hooks).
fn write_atomic_dyn(
    path: &Path,
    bytes: &[u8],
    mode: Option<u32>,
    before: &mut dyn FnMut(Step) -> io::Result<()>,
) -> io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tmp = temp_path(path);
    before(Step::Write)?;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode.unwrap_or(0o666))
        .open(&tmp)?;
    if let Some(m) = mode {
        f.set_permissions(fs::Permissions::from_mode(m))?;
    }
    f.write_all(bytes)?;
    before(Step::Fsync)?;
    f.sync_all()?;
    drop(f);
    before(Step::Rename)?;
    fs::rename(&tmp, path)?;
    before(Step::FsyncDir)?;
    if let Some(dir) = path.parent() {
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}
