//! The JSON API's handlers: each [`Route`] becomes one request to the
//! running node, and the node's [`Reply`] is the answer, serialised as is.
//! The documents are therefore exactly those of the CLI's `--json` (the same
//! types, one definition): `/api/v1/status` is `scalesmall status --json`.
//!
//! A group this node does not know is a 404, a refusal a 400, a node that
//! is shutting down a 503; errors are `{"error": "...", "status": N}`.

use serde::Serialize;
use tokio::sync::oneshot;

use crate::node::NodeHandle;
use crate::node::request::{Reply, Request};

use super::route::Route;

/// An answer: a status and a JSON body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The JSON document.
    pub body: Vec<u8>,
}

#[derive(Serialize)]
struct ErrorDoc<'a> {
    error: &'a str,
    status: u16,
}

impl Answer {
    /// An error document.
    #[must_use]
    pub fn error(status: u16, message: &str) -> Self {
        let doc = ErrorDoc {
            error: message,
            status,
        };
        Self {
            status,
            body: serde_json::to_vec(&doc).unwrap_or_else(|_| b"{}".to_vec()),
        }
    }

    fn json(value: &impl Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Self { status: 200, body },
            Err(e) => Self::error(500, &format!("cannot serialise the reply: {e}")),
        }
    }

    fn shutting_down() -> Self {
        Self::error(503, "the node is shutting down")
    }
}

/// Asks the node; `None` if it is shutting down.
pub async fn ask(node: &NodeHandle, req: Request) -> Option<Reply> {
    let (tx, rx) = oneshot::channel();
    node.requests.send((req, tx)).await.ok()?;
    rx.await.ok()
}

/// Answers an API route (anything else is a 404).
pub async fn answer(node: &NodeHandle, route: Route) -> Answer {
    let req = match route {
        Route::Status => Request::Status,
        Route::Peers => Request::Peers,
        Route::Groups => Request::Groups,
        Route::Topology { group } => {
            if let Some(missing) = unknown_group(node, group.as_str()).await {
                return missing;
            }
            Request::Topology {
                group: group.to_string(),
            }
        }
        Route::Lookup { group, key } => {
            if let Some(missing) = unknown_group(node, group.as_str()).await {
                return missing;
            }
            Request::Lookup {
                group: group.to_string(),
                key,
            }
        }
        Route::Page | Route::Metrics => return Answer::error(404, "not an API path"),
    };
    match ask(node, req).await {
        Some(Reply::Refused { reason }) => Answer::error(400, &reason),
        Some(reply) => Answer::json(&reply),
        None => Answer::shutting_down(),
    }
}

/// A 404 (or 503) if the node knows no group `group`.
async fn unknown_group(node: &NodeHandle, group: &str) -> Option<Answer> {
    match ask(node, Request::Groups).await {
        Some(Reply::Groups { groups }) if groups.iter().any(|g| g.name == group) => None,
        Some(Reply::Groups { .. }) => Some(Answer::error(
            404,
            &format!("no group {group:?} on this node; /api/v1/groups lists the groups it knows"),
        )),
        _ => Some(Answer::shutting_down()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::GroupName;
    use crate::node::request::{GroupView, LookupReply};
    use tokio::sync::{broadcast, mpsc};

    /// A node stand-in that knows group `demo` and answers lookups.
    fn fake_node() -> NodeHandle {
        let (tx, mut rx) = mpsc::channel::<crate::node::driver::Ask>(4);
        let (events, _) = broadcast::channel(1);
        tokio::spawn(async move {
            while let Some((req, reply)) = rx.recv().await {
                let r = match req {
                    Request::Groups => Reply::Groups {
                        groups: vec![GroupView {
                            name: "demo".into(),
                            members: 1,
                            servers: 1,
                            servers_alive: 1,
                            items: 1,
                            claims: 1,
                            mine: true,
                            auto: 0,
                            differs: vec![],
                        }],
                    },
                    Request::Lookup { group, .. } => Reply::Lookup(LookupReply {
                        group,
                        key: 7,
                        hashed: false,
                        servers: vec![],
                        member: None,
                    }),
                    _ => Reply::Refused {
                        reason: "not here".into(),
                    },
                };
                let _ = reply.send(r);
            }
        });
        NodeHandle {
            requests: tx,
            events,
        }
    }

    fn body(a: &Answer) -> serde_json::Value {
        serde_json::from_slice(&a.body).expect("JSON")
    }

    #[tokio::test]
    async fn a_known_group_is_answered_and_an_unknown_one_is_404() {
        let node = fake_node();
        let lookup = |g: &str| Route::Lookup {
            group: GroupName::new(g).expect("name"),
            key: "7".into(),
        };
        let a = answer(&node, lookup("demo")).await;
        assert_eq!(a.status, 200);
        assert_eq!(body(&a)["result"], "lookup");
        assert_eq!(body(&a)["key"], 7);
        let a = answer(&node, lookup("nope")).await;
        assert_eq!(a.status, 404);
        assert!(
            body(&a)["error"]
                .as_str()
                .unwrap_or("")
                .contains("\"nope\"")
        );
        assert_eq!(body(&a)["status"], 404);
    }

    #[tokio::test]
    async fn a_refusal_is_400_and_a_gone_node_503() {
        let node = fake_node();
        let a = answer(&node, Route::Status).await;
        assert_eq!(a.status, 400);
        assert_eq!(body(&a)["error"], "not here");
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let gone = NodeHandle {
            requests: tx,
            events: broadcast::channel(1).0,
        };
        assert_eq!(answer(&gone, Route::Peers).await.status, 503);
    }
}
