//! The control socket's server: accepts local clients (bounded), reads one
//! JSON [`Request`] per line, asks the node, writes the JSON [`Reply`](crate::node::request::Reply);
//! `watch` streams [`crate::node::request::WatchEvent`]s until the client goes.
//! Stops accepting when cancelled, and removes its socket file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::node::NodeHandle;
use crate::node::request::{Request, refused};

/// Clients served at once.
const MAX_CLIENTS: usize = 32;
/// Longest request line.
const MAX_LINE: usize = 64 * 1024;

/// Why the control socket could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// Another node answers on the socket.
    #[error("another node is running with control socket {}", .0.display())]
    InUse(PathBuf),
    /// The socket could not be created.
    #[error("control socket {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Binds the socket at `path` (removing a stale one), mode 0660, group
/// `scalesmall` when that group exists.
///
/// # Errors
/// [`ControlError::InUse`] if a node already answers there, else I/O errors.
pub async fn bind(path: &Path) -> Result<UnixListener, ControlError> {
    let io = |source| ControlError::Io {
        path: path.to_path_buf(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    if path.exists() {
        if UnixStream::connect(path).await.is_ok() {
            return Err(ControlError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = UnixListener::bind(path).map_err(io)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(io)?;
    if let Some(gid) = group_id("scalesmall") {
        let _ = std::os::unix::fs::chown(path, None, Some(gid));
    }
    Ok(listener)
}

/// The id of group `name` from `/etc/group` (no NSS in a static binary).
fn group_id(name: &str) -> Option<u32> {
    let text = std::fs::read_to_string("/etc/group").ok()?;
    text.lines().find_map(|l| {
        let mut f = l.split(':');
        (f.next()? == name).then_some(())?;
        f.next()?;
        f.next()?.parse().ok()
    })
}

/// Serves clients until `cancel`; then removes the socket file.
pub async fn serve(
    listener: UnixListener,
    path: PathBuf,
    node: NodeHandle,
    cancel: CancellationToken,
) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, _)) => {
                let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                    debug!("control: too many clients, refusing one");
                    continue;
                };
                let node = node.clone();
                let cancel = cancel.clone();
                tokio::spawn(async move {
                    client(stream, node, cancel).await;
                    drop(permit);
                });
            }
            Err(e) => {
                warn!(error = %e, "control: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
    let _ = std::fs::remove_file(&path);
}

async fn write_json(w: &mut (impl AsyncWriteExt + Unpin), v: &impl serde::Serialize) -> bool {
    let Ok(mut line) = serde_json::to_vec(v) else {
        return false;
    };
    line.push(b'\n');
    w.write_all(&line).await.is_ok()
}

async fn client(stream: UnixStream, node: NodeHandle, cancel: CancellationToken) {
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd.take(MAX_LINE as u64 * 64)).lines();
    loop {
        let line = tokio::select! {
            () = cancel.cancelled() => return,
            l = lines.next_line() => l,
        };
        let Ok(Some(line)) = line else { return };
        if line.len() > MAX_LINE {
            let _ = write_json(&mut wr, &refused("request line too long")).await;
            return;
        }
        let req: Request = match serde_json::from_str(&line) {
            Ok(r) => r,
            Err(e) => {
                let _ = write_json(&mut wr, &refused(format!("bad request: {e}"))).await;
                continue;
            }
        };
        if req == Request::Watch {
            let mut events = node.events.subscribe();
            // Tells the client the subscription is live.
            let hello = crate::node::request::WatchEvent::now("watching", 0);
            if !write_json(&mut wr, &hello).await {
                return;
            }
            loop {
                tokio::select! {
                    () = cancel.cancelled() => return,
                    ev = events.recv() => match ev {
                        Ok(ev) => if !write_json(&mut wr, &ev).await { return },
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(_) => return,
                    },
                }
            }
        }
        let (tx, rx) = oneshot::channel();
        if node.requests.send((req, tx)).await.is_err() {
            let _ = write_json(&mut wr, &refused("the node is shutting down")).await;
            return;
        }
        let reply = rx
            .await
            .unwrap_or_else(|_| refused("the node is shutting down"));
        if !write_json(&mut wr, &reply).await {
            return;
        }
    }
}
