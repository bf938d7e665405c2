//! The optional HTTP listener (feature `http`, on by default; off unless
//! configured, and bound to localhost unless told otherwise): Prometheus
//! `/metrics`. hyper with only its HTTP/1 server, on the node's runtime.
//! Read-only: it only asks the node for counters.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::node::NodeHandle;
use crate::node::api::{Metrics, Reply, Request};

/// Binds the listener.
///
/// # Errors
/// The OS error, for the operator (address in use, not permitted).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `cancel`.
pub async fn serve(listener: TcpListener, node: NodeHandle, cancel: CancellationToken) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, _) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "http: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let node = node.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, node.clone()));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!(error = %e, "http: connection ended");
            }
        });
    }
}

fn text(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = content_type.parse() {
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    r
}

async fn ask(node: &NodeHandle, req: Request) -> Option<Reply> {
    let (tx, rx) = oneshot::channel();
    node.requests.send((req, tx)).await.ok()?;
    rx.await.ok()
}

async fn handle(
    req: HttpRequest<Incoming>,
    node: NodeHandle,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET {
        return Ok(text(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "only GET: this listener is read-only\n".into(),
        ));
    }
    Ok(match req.uri().path() {
        "/metrics" => match ask(&node, Request::Metrics).await {
            Some(Reply::Metrics(m)) => {
                text(StatusCode::OK, "text/plain; version=0.0.4", prometheus(&m))
            }
            _ => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                "the node is shutting down\n".into(),
            ),
        },
        other => text(
            StatusCode::NOT_FOUND,
            "text/plain",
            format!("no such path {other:?}; try /metrics\n"),
        ),
    })
}

/// The Prometheus text exposition of `m`.
#[must_use]
pub fn prometheus(m: &Metrics) -> String {
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, samples: &[(String, String)]| {
        let _ = writeln!(out, "# HELP scalesmall_{name} {help}");
        let _ = writeln!(out, "# TYPE scalesmall_{name} {kind}");
        for (labels, value) in samples {
            let _ = writeln!(out, "scalesmall_{name}{labels} {value}");
        }
    };
    let by =
        |label: &str, map: &std::collections::BTreeMap<String, u64>| -> Vec<(String, String)> {
            map.iter()
                .map(|(k, v)| (format!("{{{label}=\"{k}\"}}"), v.to_string()))
                .collect()
        };
    let one = |v: String| vec![(String::new(), v)];
    family(
        "frames_in_total",
        "counter",
        "Frames received and accepted, by kind.",
        &by("kind", &m.frames_in),
    );
    family(
        "frames_out_total",
        "counter",
        "Frames sent, by kind.",
        &by("kind", &m.frames_out),
    );
    family(
        "drops_total",
        "counter",
        "Frames dropped, by reason.",
        &by("reason", &m.drops),
    );
    family(
        "bytes_in_total",
        "counter",
        "Bytes received.",
        &one(m.bytes_in.to_string()),
    );
    family(
        "bytes_out_total",
        "counter",
        "Bytes sent.",
        &one(m.bytes_out.to_string()),
    );
    family(
        "peers",
        "gauge",
        "Peers known: all, heard in the last 30 s, reachable by multicast.",
        &[
            ("{state=\"known\"}".into(), m.peers.to_string()),
            ("{state=\"recent\"}".into(), m.peers_recent.to_string()),
            (
                "{state=\"multicast\"}".into(),
                m.peers_multicast.to_string(),
            ),
        ],
    );
    family(
        "groups",
        "gauge",
        "Groups known.",
        &one(m.groups.to_string()),
    );
    family(
        "items",
        "gauge",
        "Items held, all groups.",
        &one(m.items.to_string()),
    );
    family(
        "clock",
        "gauge",
        "This node's own clock.",
        &one(m.clock.to_string()),
    );
    family(
        "converged",
        "gauge",
        "1 if no recent peer announces a different group state.",
        &one(u8::from(m.converged).to_string()),
    );
    family(
        "digest_mismatches",
        "gauge",
        "Recent peers' group digests that differ from ours (lag).",
        &one(m.digest_mismatches.to_string()),
    );
    family(
        "news_total",
        "counter",
        "Received messages that changed something.",
        &one(m.news.to_string()),
    );
    family(
        "own_writes_total",
        "counter",
        "Own writes.",
        &one(m.own_writes.to_string()),
    );
    family(
        "protocol_inputs_total",
        "counter",
        "Inputs handled by the protocol.",
        &one(m.inputs.to_string()),
    );
    family(
        "protocol_seconds_total",
        "counter",
        "Seconds spent in the protocol on them (merges included).",
        &one(format!("{:.6}", m.input_seconds)),
    );
    family(
        "connections",
        "gauge",
        "TCP connections open.",
        &one(m.connections.to_string()),
    );
    family(
        "uptime_seconds",
        "gauge",
        "Seconds since start.",
        &one(format!("{:.3}", m.uptime_seconds)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_help_type_and_labels() {
        let mut m = Metrics::default();
        m.frames_in.insert("announce".into(), 3);
        m.drops.insert("auth_failed".into(), 1);
        m.converged = true;
        let t = prometheus(&m);
        assert!(t.contains("# TYPE scalesmall_frames_in_total counter"));
        assert!(t.contains("scalesmall_frames_in_total{kind=\"announce\"} 3"));
        assert!(t.contains("scalesmall_drops_total{reason=\"auth_failed\"} 1"));
        assert!(t.contains("scalesmall_converged 1"));
    }
}
