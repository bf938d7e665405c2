//! `scalesmall run`: loads the config, installs logging and signal
//! handling, starts the node ([`crate::node::start`]: store → keyring →
//! sockets → protocol → driver) with its control socket and HTTP listener,
//! and runs until SIGTERM or SIGINT.
//!
//! Signals: the handlers for SIGTERM, SIGINT and SIGHUP are installed first,
//! before the data dir is touched and long before the control socket
//! answers, so a supervisor's reload right after start never kills the
//! node. SIGHUP re-reads the config file and applies only its `[[groups]]`
//! (a config that does not load is logged and ignored). Exit status: 0 only
//! after a stop by SIGTERM/SIGINT; 1 for an error, printed with its causes;
//! 130 when a second signal cuts the shutdown short.

use core::net::SocketAddr;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::node::NodeError;
use crate::node::config::{Config, ConfigError, DeclaredGroup, LogFormat, Overrides};

use super::RunArgs;

/// How long a clean shutdown may take before the process exits anyway.
const SHUTDOWN_BOUND: Duration = Duration::from_secs(5);

/// The flags given, by the setting each sets (lists comma-separated).
fn overrides(a: &RunArgs) -> Overrides {
    let list = |v: Vec<String>| Some(v.join(",")).filter(|s| !s.is_empty());
    Overrides::default()
        .with("node.data_dir", a.data_dir.as_ref().map(|p| p.display()))
        .with("node.port", a.port)
        .with("node.interface", a.interface.as_ref())
        .with(
            "node.advertise",
            list(a.advertise.iter().map(ToString::to_string).collect()),
        )
        .with(
            "node.peers",
            list(a.peers.iter().map(ToString::to_string).collect()),
        )
        .with("node.multicast", a.no_multicast.then_some(false))
        .with("node.multicast_loop", a.multicast_loop.then_some(true))
        .with("node.multicast_port", a.multicast_port)
        .with("cluster.name", a.cluster.as_ref())
        .with("cluster.key_file", a.key_file.as_ref().map(|p| p.display()))
        .with("cluster.insecure", a.insecure.then_some(true))
        .with("control.socket", a.socket.as_ref().map(|p| p.display()))
        .with("control.http", a.http.as_ref())
        .with("node.log", a.log.as_ref())
        .with("node.log_format", a.log_format)
        .with("node.leave_on_exit", a.leave_on_exit.then_some(true))
        .with("node.reconnect_interval_secs", a.reconnect_interval_secs)
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

fn init_logging(cfg: &Config) {
    let spec = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| cfg.log.clone());
    // `RUST_LOG` syntax without regexes: `info`, `scalesmall=debug,warn`.
    let filter: Targets = spec.parse().unwrap_or_else(|e| {
        eprintln!("warning: log filter {spec:?}: {e}; using info");
        Targets::new().with_default(tracing::Level::INFO)
    });
    // Under systemd the journal adds its own timestamps.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    let tty = std::io::stderr().is_terminal();
    let format = match cfg.log_format {
        LogFormat::Auto if tty => LogFormat::Human,
        LogFormat::Auto => LogFormat::Compact,
        f => f,
    };
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    let registry = tracing_subscriber::registry().with(filter);
    let _ = match format {
        LogFormat::Json => registry.with(layer.json()).try_init(),
        LogFormat::Human => registry.with(layer.with_ansi(false)).try_init(),
        LogFormat::Compact | LogFormat::Auto if journald => registry
            .with(layer.compact().with_ansi(false).without_time())
            .try_init(),
        LogFormat::Compact | LogFormat::Auto => {
            registry.with(layer.compact().with_ansi(false)).try_init()
        }
    };
}

/// `scalesmall run`.
#[must_use]
pub fn main(args: &RunArgs) -> ExitCode {
    let flags = overrides(args);
    let cfg = match Config::load(args.config.as_deref(), &env, &flags) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    init_logging(&cfg);
    let rt = match super::runtime() {
        Some(rt) => rt,
        None => return ExitCode::FAILURE,
    };
    let reload = Reload {
        file: args.config.clone(),
        flags,
    };
    match rt.block_on(serve(cfg, reload)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// Starts the HTTP listener if configured; returns a note for the banner.
#[cfg(feature = "http")]
async fn start_http(
    addr: Option<SocketAddr>,
    handle: &crate::node::NodeHandle,
    cancel: &CancellationToken,
) -> Result<String, NodeError> {
    let Some(addr) = addr else {
        return Ok(String::new());
    };
    let listener = crate::control::http::bind(addr)
        .await
        .map_err(|source| NodeError::Socket {
            what: "bind HTTP",
            addr,
            source,
        })?;
    tokio::spawn(crate::control::http::serve(
        listener,
        handle.clone(),
        cancel.clone(),
    ));
    Ok(format!(", http {addr}"))
}

/// Without the `http` feature, an HTTP address is refused with a reason.
#[cfg(not(feature = "http"))]
async fn start_http(
    addr: Option<SocketAddr>,
    _handle: &crate::node::NodeHandle,
    _cancel: &CancellationToken,
) -> Result<String, NodeError> {
    match addr {
        None => Ok(String::new()),
        Some(addr) => Err(NodeError::Socket {
            what: "serve HTTP (this build has no `http` feature)",
            addr,
            source: std::io::Error::from(std::io::ErrorKind::Unsupported),
        }),
    }
}

/// The signals the node handles. Creating them installs the handlers; a
/// signal that arrives before its stream is read is kept until it is.
struct Signals {
    term: Signal,
    int: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> Result<Self, NodeError> {
        Ok(Self {
            term: signal(SignalKind::terminate()).map_err(NodeError::Signal)?,
            int: signal(SignalKind::interrupt()).map_err(NodeError::Signal)?,
            hup: signal(SignalKind::hangup()).map_err(NodeError::Signal)?,
        })
    }
}

/// How to load the config again on SIGHUP: the same file, environment and
/// flags as at start.
struct Reload {
    file: Option<std::path::PathBuf>,
    flags: Overrides,
}

impl Reload {
    fn load(&self) -> Result<Config, ConfigError> {
        Config::load(self.file.as_deref(), &env, &self.flags)
    }
}

/// The declared groups of a re-read config, or `None` (logged) if it does
/// not load. Warns when settings other than `[[groups]]` changed: those
/// apply at the next restart.
fn reread(loaded: Result<Config, ConfigError>, running: &Config) -> Option<Vec<DeclaredGroup>> {
    match loaded {
        Err(e) => {
            warn!(error = %e, "SIGHUP: the config cannot be used; ignored, the node keeps its groups and claims");
            None
        }
        Ok(new) => {
            let file = new
                .file
                .as_ref()
                .map_or_else(|| "none (defaults)".to_owned(), |p| p.display().to_string());
            let mut rest = new.clone();
            rest.groups.clone_from(&running.groups);
            if rest != *running {
                warn!(file = %file, "SIGHUP: settings other than [[groups]] changed; they take effect at the next restart");
            }
            if new.auto_config().policies != running.auto_config().policies {
                warn!(file = %file, "SIGHUP: auto-claim policies (replicas, slices) changed; they take effect at \
                    the next restart (change them on every board alike)");
            }
            info!(file = %file, groups = new.groups.len(), "SIGHUP: re-read the config, applying its [[groups]]");
            Some(new.groups)
        }
    }
}

/// Completes when the process is to stop. The first SIGTERM or SIGINT
/// cancels `stop`; a second one exits at once (130). Each SIGHUP re-reads
/// the config and sends its declared groups to the driver.
async fn signals(
    mut sig: Signals,
    stop: CancellationToken,
    reload: Reload,
    running: Config,
    groups: mpsc::Sender<Vec<DeclaredGroup>>,
) {
    loop {
        tokio::select! {
            Some(()) = sig.term.recv() => break,
            Some(()) = sig.int.recv() => break,
            Some(()) = sig.hup.recv() => {
                if let Some(g) = reread(reload.load(), &running) {
                    let _ = groups.send(g).await;
                }
            }
            else => std::future::pending::<()>().await,
        }
    }
    info!("shutting down (a second signal exits at once)");
    stop.cancel();
    loop {
        tokio::select! {
            Some(()) = sig.term.recv() => break,
            Some(()) = sig.int.recv() => break,
            Some(()) = sig.hup.recv() => info!("SIGHUP ignored: shutting down"),
            else => std::future::pending::<()>().await,
        }
    }
    std::process::exit(130);
}

/// Runs the node of `cfg` with its control socket, HTTP listener and
/// signals until SIGTERM or SIGINT.
async fn serve(cfg: Config, reload: Reload) -> Result<(), NodeError> {
    // First of all: from here on SIGHUP, SIGTERM and SIGINT are handled.
    let sigs = Signals::install()?;
    let mut node = crate::node::start(&cfg)?;
    let stop = CancellationToken::new();
    tokio::spawn(signals(
        sigs,
        stop.clone(),
        reload,
        cfg.clone(),
        node.reloads(),
    ));
    let socket = cfg.socket_path(&env);
    let control = crate::control::server::bind(&socket)
        .await
        .map_err(|e| NodeError::Control {
            path: socket.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
    let cancel = CancellationToken::new();
    let http_note = start_http(cfg.http, &node.handle(), &cancel).await?;
    let control_task = tokio::spawn(crate::control::server::serve(
        control,
        socket.clone(),
        node.handle(),
        cancel.clone(),
    ));
    // The banner is for people and test harnesses: a closed stdout is not
    // a reason to stop.
    let _ = writeln!(
        std::io::stdout().lock(),
        "scalesmall {} {}, control {}{http_note}",
        env!("CARGO_PKG_VERSION"),
        node.banner(),
        socket.display(),
    );
    // Every socket is bound: the node tells systemd it is ready.
    let result = node.run(stop.cancelled_owned()).await;
    cancel.cancel();
    let _ = tokio::time::timeout(SHUTDOWN_BOUND, control_task).await;
    let _ = std::fs::remove_file(&socket);
    info!("stopped");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> Result<Config, ConfigError> {
        let p = std::env::temp_dir().join(format!(
            "scalesmall-reread-{name}-{}.toml",
            std::process::id()
        ));
        std::fs::write(&p, text).unwrap();
        let env = |k: &str| (k == "SCALESMALL_DATA_DIR").then(|| "/tmp/reread".to_owned());
        let c = Config::load(Some(&p), &env, &Overrides::default());
        let _ = std::fs::remove_file(&p);
        c
    }

    #[test]
    fn a_reread_config_yields_its_groups_and_a_broken_one_nothing() {
        let running = load(
            "a",
            "[[groups]]\nname = \"demo\"\nclaims = [{ range = \"0..100\" }]\n",
        )
        .unwrap();
        let g = reread(
            load(
                "b",
                "[[groups]]\nname = \"demo\"\nclaims = []\n[[groups]]\nname = \"x\"\n",
            ),
            &running,
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert!(g[0].claims.is_empty());
        // Other settings changed too: still only the groups are taken.
        let g = reread(load("c", "[node]\nport = 1234\n"), &running).unwrap();
        assert!(g.is_empty());
        assert!(reread(load("d", "[[groups]\nname = "), &running).is_none());
        assert!(reread(load("e", "[node]\nport = 0\n"), &running).is_none());
    }
}
