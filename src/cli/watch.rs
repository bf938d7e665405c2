//! `scalesmall watch`: follows the node's event stream, printing each event
//! (a line of text, or JSON with `--json`) and, with `--exec CMD`, running
//! `CMD` for each the way a configured hook runs (docs/node.md "Hooks"):
//! `/bin/sh -c CMD`, the event in `SCALESMALL_EVENT`, `SCALESMALL_GROUP`,
//! `SCALESMALL_NODE` and `SCALESMALL_NAME`, its JSON on stdin. Runs are one
//! at a time, in event order, each killed after 30 s.

use std::io::Write as _;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::control::client::{Client, ClientError};
use crate::node::request::WatchEvent;

/// How long one `--exec` run may take.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

/// Follows the stream until the node or the reader goes away.
///
/// # Errors
/// The connection's.
pub async fn follow(
    client: &mut Client,
    json: bool,
    exec: Option<&str>,
) -> Result<ExitCode, ClientError> {
    client.watch().await?;
    loop {
        let ev = client.next_event().await?;
        // The reader went away (`| head -n 3`): done, not a panic.
        if writeln!(std::io::stdout().lock(), "{}", line(&ev, json)).is_err() {
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(cmd) = exec.filter(|_| ev.event != "watching") {
            run(cmd, &ev).await;
        }
    }
}

/// One event as `watch` prints it.
fn line(ev: &WatchEvent, json: bool) -> String {
    if json {
        return serde_json::to_string(ev).unwrap_or_default();
    }
    let what = [ev.group.as_deref(), ev.node.as_deref(), ev.addr.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let ranges = ev
        .ranges
        .iter()
        .map(|r| {
            let owners: Vec<&str> = r.owners.iter().map(|o| o.node.as_str()).collect();
            format!(" {}=[{}]", r.range, owners.join(","))
        })
        .collect::<String>();
    let when = if ev.time.is_empty() {
        format!("{:.3}s", ev.at_ms as f64 / 1000.0)
    } else {
        ev.time.clone()
    };
    format!("{when} {} {what}{ranges}", ev.event)
}

/// Runs `cmd` for `ev`; a failure is reported on stderr, never fatal.
async fn run(cmd: &str, ev: &WatchEvent) {
    let opt = |v: &Option<String>| v.clone().unwrap_or_default();
    let child = tokio::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(cmd)
        .env("SCALESMALL_EVENT", &ev.event)
        .env("SCALESMALL_GROUP", opt(&ev.group))
        .env("SCALESMALL_NODE", opt(&ev.node))
        .env("SCALESMALL_NAME", opt(&ev.node))
        .stdin(Stdio::piped())
        .kill_on_drop(true)
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => {
            eprintln!("watch --exec: cannot start {cmd:?}: {e}");
            return;
        }
    };
    let json = serde_json::to_string(ev).unwrap_or_default();
    let done = async {
        if let Some(mut stdin) = child.stdin.take() {
            // A command that does not read stdin closes it: not an error.
            let _ = stdin.write_all(format!("{json}\n").as_bytes()).await;
        }
        child.wait().await
    };
    match tokio::time::timeout(EXEC_TIMEOUT, done).await {
        Ok(Ok(status)) if status.success() => {}
        Ok(Ok(status)) => eprintln!("watch --exec: {cmd:?} {status} for {}", ev.event),
        Ok(Err(e)) => eprintln!("watch --exec: {cmd:?}: {e}"),
        Err(_) => {
            let _ = child.kill().await;
            eprintln!(
                "watch --exec: {cmd:?} killed after {} s",
                EXEC_TIMEOUT.as_secs()
            );
        }
    }
}
