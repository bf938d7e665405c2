//! The optional HTTP listener (feature `http`, on by default; off unless
//! configured, and bound where the operator says, normally localhost):
//! hyper with only its HTTP/1 server, on the node's runtime.
//!
//! It serves the status page at `/` ([`super::page`]), the JSON API under
//! `/api/v1/` ([`super::json_api`]) and Prometheus `/metrics`
//! ([`super::prometheus`]); [`super::route`] decides which from the path
//! and query. Read-only: only GET is answered (405 otherwise), and every
//! request it makes of the node is a query. Bounded: at most
//! [`MAX_CONNECTIONS`] connections, headers within [`HEADER_TIMEOUT`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request as HttpRequest, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::node::NodeHandle;
use crate::node::request::{Reply, Request};

use super::json_api::{self, Answer};
use super::page::{CONTENT_SECURITY_POLICY, PAGE};
use super::prometheus::prometheus;
use super::route::{Route, route};

/// Connections served at once; more wait in the OS backlog.
pub const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send a request's headers (an idle
/// keep-alive connection is closed after as long).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

type Body = Full<Bytes>;

/// Binds the listener.
///
/// # Errors
/// The OS error, for the operator (address in use, not permitted).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until `cancel`.
pub async fn serve(listener: TcpListener, node: NodeHandle, cancel: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = tokio::select! {
            () = cancel.cancelled() => return,
            p = Arc::clone(&slots).acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, _) = match accepted {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let node = node.clone();
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| handle(req, node.clone()));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                () = cancel.cancelled() => {}
                r = conn => if let Err(e) = r {
                    debug!(error = %e, "http: connection ended");
                },
            }
            drop(permit);
        });
    }
}

fn response(status: u16, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

fn json(a: Answer) -> Response<Body> {
    response(a.status, "application/json", a.body)
}

fn text(status: u16, body: String) -> Response<Body> {
    response(status, "text/plain; charset=utf-8", body)
}

async fn handle(
    req: HttpRequest<Incoming>,
    node: NodeHandle,
) -> Result<Response<Body>, Infallible> {
    let uri = req.uri();
    let api_path = uri.path().starts_with("/api/");
    if req.method() != Method::GET {
        let message = format!(
            "method {} not allowed: only GET; this listener is read-only (writes go through the CLI)",
            req.method()
        );
        let mut r = if api_path {
            json(Answer::error(405, &message))
        } else {
            text(405, message + "\n")
        };
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return Ok(r);
    }
    let route = match route(uri.path(), uri.query()) {
        Ok(r) => r,
        Err(refusal) if refusal.api => {
            return Ok(json(Answer::error(refusal.status, &refusal.message)));
        }
        Err(refusal) => return Ok(text(refusal.status, refusal.message + "\n")),
    };
    Ok(match route {
        Route::Page => {
            let mut r = response(200, "text/html; charset=utf-8", PAGE);
            let h = r.headers_mut();
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CONTENT_SECURITY_POLICY),
            );
            h.insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
            r
        }
        Route::Metrics => match json_api::ask(&node, Request::Metrics).await {
            Some(Reply::Metrics(m)) => response(
                200,
                "text/plain; version=0.0.4",
                prometheus(
                    &m,
                    &crate::node::process_stats::ProcessStats::read(m.uptime_seconds),
                ),
            ),
            _ => text(503, "the node is shutting down\n".into()),
        },
        api_route => json(json_api::answer(&node, api_route).await),
    })
}
