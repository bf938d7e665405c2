//! `Store`: the node's durable state in its data dir, gentle on SD cards.
//!
//! | file          | content                                          | written            |
//! |---------------|--------------------------------------------------|--------------------|
//! | `node.id`     | the node id, 16 hex digits                       | once, at first start |
//! | `incarnation` | a counter, decimal                               | at every start     |
//! | `own.state`   | own clock, items and GC floors (checksummed)     | after own writes   |
//! | `declared`    | the groups the config file declared, JSON        | when that set changes |
//! | `expired`     | expiry markers of dead members, JSON             | when a marker is made or cleared |
//!
//! Every write is crash-safe ([`super::fs`]): write a temporary file, fsync,
//! rename, fsync the directory. Own writes are rare (a few a day), so that
//! is a few small writes a day; nothing is written on a timer. Everyone
//! else's state is not stored: the node rebuilds it from the network.
//!
//! A corrupt or truncated file is a clear error naming the file and what to
//! do; it is never silently replaced, because it holds the node's own claims.

use std::io;
use std::path::{Path, PathBuf};

use crate::model::{GroupName, Item, KeyRange, Kind, NodeId, TimedItem};
use crate::protocol::OwnState;

use super::fs::Fs;

const OWN_MAGIC: &[u8; 4] = b"SSOS";
/// Version 2 appends the own GC floors; version 1 files load with none.
const OWN_VERSION: u8 = 2;

/// Why the store failed. Nothing was changed on disk unless said.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An I/O operation failed; for writes, the previous content is intact.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done ("read", "write", "create directory").
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A file's content is not valid.
    #[error("{} is corrupt: {why}. {advice}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        why: String,
        /// What the operator can do.
        advice: &'static str,
    },
    /// The OS refused randomness for a new node id.
    #[error("cannot draw a node id: {0}")]
    Entropy(String),
}

const OWN_ADVICE: &str = "It holds this board's own groups and claims. Restore it from a backup, \
     or move it away to start with no claims (peers still hold the old ones until the board \
     re-asserts or they expire)";
const ID_ADVICE: &str = "Restore it from a backup, or delete it to make this board a new \
     member (its old id expires from the cluster later)";

/// The serialised own state.
#[derive(serde::Serialize, serde::Deserialize)]
struct OwnFile {
    clock: u64,
    items: Vec<StoredItem>,
}

/// Version 2: version 1's fields, then the own GC floor per group.
#[derive(serde::Serialize, serde::Deserialize)]
struct OwnFileV2 {
    v1: OwnFile,
    floors: Vec<(String, u64)>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredItem {
    group: String,
    /// 0 serve, 1 read, 2 auto. A `u8` encodes like the `bool` (`read`)
    /// of the first builds, byte for byte, so their files load unchanged.
    kind: u8,
    live: bool,
    start: u32,
    end: u32,
    priority: u16,
    port: u16,
    clock: u64,
}

/// The data dir.
pub struct Store {
    dir: PathBuf,
    fs: Box<dyn Fs>,
}

impl Store {
    /// Opens (creating if needed) the data dir `dir`.
    ///
    /// # Errors
    /// [`StoreError::Io`] if the directory cannot be created.
    pub fn open(dir: &Path, fs: Box<dyn Fs>) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            op: "create directory",
            path: dir.to_path_buf(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            fs,
        })
    }

    /// The data dir.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(name);
        self.fs.read(&path).map_err(|source| StoreError::Io {
            op: "read",
            path,
            source,
        })
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
        let path = self.path(name);
        self.fs
            .write_atomic(&path, bytes)
            .map_err(|source| StoreError::Io {
                op: "write",
                path,
                source,
            })
    }

    /// The node id, drawn with `random` and stored at the first start.
    ///
    /// # Errors
    /// I/O errors, a corrupt `node.id`, or no randomness.
    pub fn node_id(
        &self,
        random: impl FnOnce() -> Result<u64, String>,
    ) -> Result<NodeId, StoreError> {
        if let Some(bytes) = self.read("node.id")? {
            let text = String::from_utf8_lossy(&bytes);
            return text
                .trim()
                .parse::<NodeId>()
                .map_err(|e| StoreError::Corrupt {
                    path: self.path("node.id"),
                    why: e.to_string(),
                    advice: ID_ADVICE,
                });
        }
        let id = NodeId::from_u64(random().map_err(StoreError::Entropy)?);
        self.write("node.id", format!("{id}\n").as_bytes())?;
        Ok(id)
    }

    /// Bumps the incarnation counter and makes it durable; returns the new
    /// value (1 at the first start).
    ///
    /// # Errors
    /// I/O errors or a corrupt `incarnation` file.
    pub fn bump_incarnation(&self) -> Result<u64, StoreError> {
        let old = match self.read("incarnation")? {
            None => 0,
            Some(bytes) => String::from_utf8_lossy(&bytes)
                .trim()
                .parse::<u64>()
                .map_err(|e| StoreError::Corrupt {
                    path: self.path("incarnation"),
                    why: format!("not a number ({e})"),
                    advice: "It only counts restarts: replace it with a number larger than any \
                         this board used (e.g. 1000000)",
                })?,
        };
        let new = old.saturating_add(1);
        self.write("incarnation", format!("{new}\n").as_bytes())?;
        Ok(new)
    }

    /// The persisted own state, if any.
    ///
    /// # Errors
    /// I/O errors, or [`StoreError::Corrupt`] for a damaged file.
    pub fn load_own(&self, own: NodeId) -> Result<Option<OwnState>, StoreError> {
        let Some(bytes) = self.read("own.state")? else {
            return Ok(None);
        };
        decode_own(&bytes, own)
            .map(Some)
            .map_err(|why| StoreError::Corrupt {
                path: self.path("own.state"),
                why,
                advice: OWN_ADVICE,
            })
    }

    /// Makes `state` durable (crash-safe).
    ///
    /// # Errors
    /// I/O errors (a full disk, a failed fsync); the previous state is intact.
    pub fn save_own(&self, state: &OwnState) -> Result<(), StoreError> {
        self.write("own.state", &encode_own(state))
    }

    /// The groups the config file declared when they were last applied
    /// (empty if never): a group no longer declared is left.
    ///
    /// # Errors
    /// I/O errors, or [`StoreError::Corrupt`] for a damaged file.
    pub fn load_declared(&self) -> Result<Vec<GroupName>, StoreError> {
        let Some(bytes) = self.read("declared")? else {
            return Ok(Vec::new());
        };
        let corrupt = |why: String| StoreError::Corrupt {
            path: self.path("declared"),
            why,
            advice: "It only lists the groups the config file declared last time, so that \
                 groups taken out of the file are left: delete it (such groups then stay until \
                 `scalesmall leave`)",
        };
        let names: Vec<String> =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        names
            .iter()
            .map(|n| GroupName::new(n).map_err(|e| corrupt(e.to_string())))
            .collect()
    }

    /// Makes the declared groups durable (crash-safe).
    ///
    /// # Errors
    /// I/O errors; the previous list is intact.
    pub fn save_declared(&self, groups: &[GroupName]) -> Result<(), StoreError> {
        let names: Vec<&str> = groups.iter().map(GroupName::as_str).collect();
        let mut bytes = serde_json::to_vec(&names).map_err(|e| StoreError::Io {
            op: "encode",
            path: self.path("declared"),
            source: io::Error::other(e),
        })?;
        bytes.push(b'\n');
        self.write("declared", &bytes)
    }
}

/// One stored expiry marker: the member (hex id) and the clock up to which
/// its writes were dropped.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredMarker {
    member: String,
    upto: u64,
}

impl Store {
    /// The expiry markers stored before a restart (empty if none), so a
    /// restarted board keeps refusing the dead members' old writes for
    /// another grace period (docs/ALGORITHM.md 9.4).
    ///
    /// # Errors
    /// I/O errors, or [`StoreError::Corrupt`] for a damaged file.
    pub fn load_markers(&self) -> Result<Vec<(NodeId, u64)>, StoreError> {
        let Some(bytes) = self.read("expired")? else {
            return Ok(Vec::new());
        };
        let corrupt = |why: String| StoreError::Corrupt {
            path: self.path("expired"),
            why,
            advice: "It only lists members this board expired (dead boards), so that their old \
                 claims are not taken back from a peer that still has them: delete it (at worst \
                 such claims come back until they expire again)",
        };
        let stored: Vec<StoredMarker> =
            serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
        stored
            .iter()
            .map(|m| {
                let id = m
                    .member
                    .parse::<NodeId>()
                    .map_err(|e| corrupt(e.to_string()))?;
                Ok((id, m.upto))
            })
            .collect()
    }

    /// Makes the expiry markers durable (crash-safe).
    ///
    /// # Errors
    /// I/O errors; the previous list is intact.
    pub fn save_markers(&self, markers: &[(NodeId, u64)]) -> Result<(), StoreError> {
        let stored: Vec<StoredMarker> = markers
            .iter()
            .map(|(m, upto)| StoredMarker {
                member: m.to_string(),
                upto: *upto,
            })
            .collect();
        let mut bytes = serde_json::to_vec(&stored).map_err(|e| StoreError::Io {
            op: "encode",
            path: self.path("expired"),
            source: io::Error::other(e),
        })?;
        bytes.push(b'\n');
        self.write("expired", &bytes)
    }
}

/// `magic | version | postcard body | xxh3-64 of all before (LE)`.
#[must_use]
pub fn encode_own(state: &OwnState) -> Vec<u8> {
    let v1 = OwnFile {
        clock: state.clock,
        items: state
            .items
            .iter()
            .map(|(g, i)| StoredItem {
                group: g.to_string(),
                kind: match i.kind() {
                    Kind::Serve => 0,
                    Kind::Read => 1,
                    Kind::Auto => 2,
                },
                live: i.live(),
                start: i.range().start(),
                end: i.range().end(),
                priority: i.priority(),
                port: i.port(),
                clock: i.clock(),
            })
            .collect(),
    };
    let file = OwnFileV2 {
        v1,
        floors: state
            .floors
            .iter()
            .map(|(g, f)| (g.to_string(), *f))
            .collect(),
    };
    let mut out = Vec::with_capacity(64 + 32 * state.items.len());
    out.extend_from_slice(OWN_MAGIC);
    out.push(OWN_VERSION);
    // Serialising plain structs into a Vec cannot fail; an empty body would
    // fail the checks on load rather than pass silently.
    out.extend(postcard::to_allocvec(&file).unwrap_or_default());
    let sum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    out
}

/// Parses and checks an `own.state` file.
///
/// # Errors
/// A description of what is wrong.
pub fn decode_own(bytes: &[u8], own: NodeId) -> Result<OwnState, String> {
    if bytes.len() < OWN_MAGIC.len() + 1 + 8 {
        return Err(format!("only {} bytes (truncated)", bytes.len()));
    }
    let (body, sum) = bytes.split_at(bytes.len() - 8);
    let want = u64::from_le_bytes(sum.try_into().map_err(|_| "no checksum".to_owned())?);
    if xxhash_rust::xxh3::xxh3_64(body) != want {
        return Err("checksum mismatch (torn or damaged write)".to_owned());
    }
    if body.get(..4) != Some(&OWN_MAGIC[..]) {
        return Err("not an own-state file (bad magic)".to_owned());
    }
    let rest = body.get(5..).unwrap_or(&[]);
    let undecodable = |e: postcard::Error| format!("undecodable ({e})");
    let (file, stored_floors) = match body.get(4) {
        Some(1) => (
            postcard::from_bytes::<OwnFile>(rest).map_err(undecodable)?,
            Vec::new(),
        ),
        Some(2) => {
            let f: OwnFileV2 = postcard::from_bytes(rest).map_err(undecodable)?;
            (f.v1, f.floors)
        }
        v => return Err(format!("unknown format version {v:?}")),
    };
    let mut floors = Vec::with_capacity(stored_floors.len());
    for (g, floor) in stored_floors {
        if floor > file.clock {
            return Err(format!("floor {floor} above the clock {}", file.clock));
        }
        floors.push((GroupName::new(&g).map_err(|e| e.to_string())?, floor));
    }
    let mut items = Vec::with_capacity(file.items.len());
    for s in file.items {
        let group = GroupName::new(&s.group).map_err(|e| e.to_string())?;
        let range = KeyRange::new(s.start, s.end).map_err(|e| e.to_string())?;
        let kind = match s.kind {
            0 => Kind::Serve,
            1 => Kind::Read,
            2 => Kind::Auto,
            k => return Err(format!("unknown item kind {k}")),
        };
        let item = Item {
            member: own,
            kind,
            live: s.live,
            range,
            priority: s.priority,
            port: s.port,
        };
        items.push((
            group,
            TimedItem::at(item, s.clock).map_err(|e| e.to_string())?,
        ));
    }
    Ok(OwnState {
        clock: file.clock,
        items,
        floors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::fs::{RealFs, Step, temp_path, write_atomic_with};
    use std::sync::Mutex;

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("scalesmall-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn state() -> OwnState {
        let me = NodeId::from_u64(9);
        let g = GroupName::new("g").unwrap();
        let a = TimedItem::at(Item::get(me), 1).unwrap();
        let b = TimedItem::at(Item::add(me, KeyRange::new(5, 9).unwrap(), 3, 80), 4).unwrap();
        OwnState {
            clock: 4,
            items: vec![(g.clone(), a), (g, b)],
            floors: vec![(GroupName::new("left").unwrap(), 3)],
        }
    }

    /// Fails one step of every crash-safe write.
    struct Faulty {
        fail: Step,
        kind: io::ErrorKind,
        torn: bool,
        calls: Mutex<u32>,
    }

    impl Fs for Faulty {
        fn read(&self, path: &Path) -> io::Result<Option<Vec<u8>>> {
            RealFs.read(path)
        }
        fn write_atomic(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
            *self.calls.lock().unwrap() += 1;
            if self.torn {
                // A crash half-way through writing the temporary file.
                std::fs::write(temp_path(path), &bytes[..bytes.len() / 2])?;
                return Err(io::Error::other("crash"));
            }
            write_atomic_with(path, bytes, |s| {
                if s == self.fail {
                    Err(io::Error::from(self.kind))
                } else {
                    Ok(())
                }
            })
        }
    }

    #[test]
    fn markers_round_trip_and_a_damaged_list_is_named() {
        let d = tmpdir("markers");
        let s = Store::open(&d, Box::new(RealFs)).unwrap();
        assert!(s.load_markers().unwrap().is_empty(), "none stored yet");
        let markers = vec![(NodeId::from_u64(7), 12), (NodeId::from_u64(0xabc), 3)];
        s.save_markers(&markers).unwrap();
        assert_eq!(s.load_markers().unwrap(), markers);
        s.save_markers(&[]).unwrap();
        assert!(s.load_markers().unwrap().is_empty());
        std::fs::write(d.join("expired"), b"[{\"member\":\"zz\",\"upto\":1}]").unwrap();
        let err = s.load_markers().unwrap_err().to_string();
        assert!(
            err.contains("expired is corrupt") && err.contains("delete it"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn declared_groups_round_trip_and_a_damaged_list_is_named() {
        let d = tmpdir("declared");
        let s = Store::open(&d, Box::new(RealFs)).unwrap();
        assert!(s.load_declared().unwrap().is_empty());
        let gs = vec![
            GroupName::new("demo").unwrap(),
            GroupName::new("odd \"name\"\n").unwrap(),
        ];
        s.save_declared(&gs).unwrap();
        assert_eq!(s.load_declared().unwrap(), gs);
        std::fs::write(d.join("declared"), b"[\"demo\", 7]").unwrap();
        let err = s.load_declared().unwrap_err().to_string();
        assert!(err.contains("declared is corrupt"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_version_1_own_state_loads_without_floors_and_a_floor_above_the_clock_is_refused() {
        let me = NodeId::from_u64(9);
        let mut v2 = encode_own(&state());
        // A version 1 file is version 2 without the trailing floors
        // (count 1, name length 4, "left", floor 3: 7 bytes).
        let body_end = v2.len() - 8;
        let mut v1 = v2[..body_end - 7].to_vec();
        v1[4] = 1;
        let sum = xxhash_rust::xxh3::xxh3_64(&v1);
        v1.extend_from_slice(&sum.to_le_bytes());
        let old = decode_own(&v1, me).unwrap();
        assert!(old.floors.is_empty());
        assert_eq!((old.clock, old.items), (state().clock, state().items));
        // Floor 5 above clock 4 (the floor is the last byte of the body).
        v2[body_end - 1] = 5;
        v2.truncate(body_end);
        let sum = xxhash_rust::xxh3::xxh3_64(&v2);
        v2.extend_from_slice(&sum.to_le_bytes());
        let err = decode_own(&v2, me).unwrap_err();
        assert!(err.contains("above the clock"), "{err}");
    }

    #[test]
    fn own_state_round_trips() {
        let d = tmpdir("rt");
        let s = Store::open(&d, Box::new(RealFs)).unwrap();
        assert_eq!(s.load_own(NodeId::from_u64(9)).unwrap(), None);
        s.save_own(&state()).unwrap();
        assert_eq!(s.load_own(NodeId::from_u64(9)).unwrap(), Some(state()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_id_is_drawn_once_and_the_incarnation_grows() {
        let d = tmpdir("id");
        let s = Store::open(&d, Box::new(RealFs)).unwrap();
        let id = s.node_id(|| Ok(0xabc)).unwrap();
        assert_eq!(s.node_id(|| Err("not called".into())).unwrap(), id);
        assert_eq!(s.bump_incarnation().unwrap(), 1);
        assert_eq!(s.bump_incarnation().unwrap(), 2);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn any_failed_step_keeps_the_previous_state() {
        for (fail, kind) in [
            (Step::Write, io::ErrorKind::StorageFull),
            (Step::Fsync, io::ErrorKind::Other),
            (Step::Rename, io::ErrorKind::PermissionDenied),
        ] {
            let d = tmpdir(&format!("fail-{fail:?}"));
            Store::open(&d, Box::new(RealFs))
                .unwrap()
                .save_own(&state())
                .unwrap();
            let s = Store::open(
                &d,
                Box::new(Faulty {
                    fail,
                    kind,
                    torn: false,
                    calls: Mutex::new(0),
                }),
            )
            .unwrap();
            let mut newer = state();
            newer.clock = 99;
            let err = s.save_own(&newer).unwrap_err();
            assert!(err.to_string().contains("own.state"), "{err}");
            assert_eq!(
                s.load_own(NodeId::from_u64(9)).unwrap(),
                Some(state()),
                "{fail:?}"
            );
            let _ = std::fs::remove_dir_all(&d);
        }
    }

    #[test]
    fn a_torn_write_leaves_the_old_file() {
        let d = tmpdir("torn");
        Store::open(&d, Box::new(RealFs))
            .unwrap()
            .save_own(&state())
            .unwrap();
        let s = Store::open(
            &d,
            Box::new(Faulty {
                fail: Step::FsyncDir,
                kind: io::ErrorKind::Other,
                torn: true,
                calls: Mutex::new(0),
            }),
        )
        .unwrap();
        assert!(s.save_own(&OwnState::default()).is_err());
        assert_eq!(s.load_own(NodeId::from_u64(9)).unwrap(), Some(state()));
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_damaged_file_is_a_clear_error_not_an_empty_state() {
        let d = tmpdir("corrupt");
        let s = Store::open(&d, Box::new(RealFs)).unwrap();
        s.save_own(&state()).unwrap();
        let path = d.join("own.state");
        let mut bytes = std::fs::read(&path).unwrap();
        for cut in [0, 3, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).unwrap();
            let err = s.load_own(NodeId::from_u64(9)).unwrap_err().to_string();
            assert!(
                err.contains("own.state is corrupt") && err.contains("backup"),
                "{err}"
            );
        }
        bytes[7] ^= 0x40;
        std::fs::write(&path, &bytes).unwrap();
        assert!(s.load_own(NodeId::from_u64(9)).is_err());
        std::fs::write(d.join("node.id"), "not hex").unwrap();
        assert!(
            s.node_id(|| Ok(1))
                .unwrap_err()
                .to_string()
                .contains("node.id is corrupt")
        );
        let _ = std::fs::remove_dir_all(&d);
    }
}
