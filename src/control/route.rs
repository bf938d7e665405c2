//! `Route`: what an HTTP request to the listener asks for, decided from its
//! path and query alone (no I/O, so every rule is unit-tested here).
//!
//! Paths are split on `/` first and each segment percent-decoded after, so a
//! group name may contain an encoded `/` (`%2F`). Query values are
//! form-encoded (`+` is a space, `%2B` a plus), as browsers send them. A
//! decoded group name must be valid UTF-8 and a valid
//! [`GroupName`] (1 to 255 bytes). Every refusal says which part was wrong
//! and what is allowed; nothing here panics on any input.

use crate::model::GroupName;

/// The paths the listener serves, for error messages.
pub const PATHS: &str = "/, /metrics, /api/v1/status, /api/v1/peers, /api/v1/groups, \
     /api/v1/groups/{group}/topology, /api/v1/groups/{group}/lookup?key=KEY";

/// What the allowed values of `key` are.
const KEY_HELP: &str = "a u32 (decimal or 0x-hex, e.g. key=42 or key=0x2a) or any other \
     string, which is hashed (percent-encoded, e.g. key=user%3A42)";

/// A request the listener can answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/`: the status page.
    Page,
    /// `/metrics`: the Prometheus exposition.
    Metrics,
    /// `/api/v1/status`.
    Status,
    /// `/api/v1/peers`.
    Peers,
    /// `/api/v1/groups`.
    Groups,
    /// `/api/v1/groups/{group}/topology`.
    Topology {
        /// The group.
        group: GroupName,
    },
    /// `/api/v1/groups/{group}/lookup?key=`.
    Lookup {
        /// The group.
        group: GroupName,
        /// The key as given (decoded): a number or a string to hash.
        key: String,
    },
}

impl Route {
    /// Whether the answer is JSON (and so an error about it is too).
    #[must_use]
    pub const fn is_api(&self) -> bool {
        !matches!(self, Route::Page | Route::Metrics)
    }
}

/// Why a request has no route: the status to answer and a message for the
/// person (or script) who sent it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// 400 (bad value) or 404 (no such path).
    pub status: u16,
    /// What was wrong and what is allowed.
    pub message: String,
    /// Whether the path is under `/api/` (answer in JSON).
    pub api: bool,
}

impl Refusal {
    fn bad(message: String) -> Self {
        Self {
            status: 400,
            message,
            api: true,
        }
    }

    fn not_found(path: &str) -> Self {
        Self {
            status: 404,
            message: format!("no such path {path:?}; paths: {PATHS}"),
            api: path.starts_with("/api/"),
        }
    }
}

/// The route of `path` (still percent-encoded, as on the request line) with
/// `query` (the part after `?`, if any).
///
/// # Errors
/// A [`Refusal`]: 404 for an unknown path, 400 for a bad group name or a
/// missing, repeated, unknown or badly encoded query parameter.
pub fn route(path: &str, query: Option<&str>) -> Result<Route, Refusal> {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or(path).split('/').collect();
    let (route, takes_key) = match segments.as_slice() {
        // The page and /metrics ignore any query (a scraper may add one).
        [""] => return Ok(Route::Page),
        ["metrics"] => return Ok(Route::Metrics),
        ["api", "v1", "status"] => (Route::Status, false),
        ["api", "v1", "peers"] => (Route::Peers, false),
        ["api", "v1", "groups"] => (Route::Groups, false),
        ["api", "v1", "groups", g, "topology"] => (
            Route::Topology {
                group: group_name(g)?,
            },
            false,
        ),
        ["api", "v1", "groups", g, "lookup"] => (
            Route::Lookup {
                group: group_name(g)?,
                key: String::new(),
            },
            true,
        ),
        _ => return Err(Refusal::not_found(path)),
    };
    let params = parse_query(query.unwrap_or(""))?;
    if !takes_key {
        return match params.first() {
            None => Ok(route),
            Some((name, _)) => Err(Refusal::bad(format!(
                "{path} takes no query parameters (got {name:?})"
            ))),
        };
    }
    let mut key = None;
    for (name, value) in params {
        if name != "key" {
            return Err(Refusal::bad(format!(
                "unknown query parameter {name:?}; {path} takes only key: {KEY_HELP}"
            )));
        }
        if key.replace(value).is_some() {
            return Err(Refusal::bad(
                "query parameter \"key\" is given more than once; give it once".into(),
            ));
        }
    }
    let key = match key {
        None => {
            return Err(Refusal::bad(format!(
                "missing query parameter \"key\": {KEY_HELP}"
            )));
        }
        Some(k) if k.is_empty() => {
            return Err(Refusal::bad(format!(
                "query parameter \"key\" is empty: {KEY_HELP}"
            )));
        }
        Some(k) => k,
    };
    Ok(match route {
        Route::Lookup { group, .. } => Route::Lookup { group, key },
        other => other,
    })
}

/// A path segment as a group name.
fn group_name(segment: &str) -> Result<GroupName, Refusal> {
    let name =
        decode(segment, false).map_err(|e| Refusal::bad(format!("group name {segment:?}: {e}")))?;
    GroupName::new(&name).map_err(|e| {
        Refusal::bad(format!(
            "group name {name:?}: {e} (a group name is 1 to 255 bytes of UTF-8)"
        ))
    })
}

/// `a=1&b=2` as decoded `(name, value)` pairs, in order; a name without
/// `=` has an empty value; empty pieces (`a=1&&b=2`) are skipped.
fn parse_query(query: &str) -> Result<Vec<(String, String)>, Refusal> {
    let mut out = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = decode(raw_name, true)
            .map_err(|e| Refusal::bad(format!("query parameter name {raw_name:?}: {e}")))?;
        let value = decode(raw_value, true)
            .map_err(|e| Refusal::bad(format!("query parameter {name:?}: {e}")))?;
        out.push((name, value));
    }
    Ok(out)
}

/// Percent-decodes `s` (and `+` as a space if `plus_is_space`) into UTF-8.
///
/// # Errors
/// A message naming the bad escape, or saying the bytes are not UTF-8.
pub fn decode(s: &str, plus_is_space: bool) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hi = bytes.get(i + 1).copied().and_then(hex);
                let lo = bytes.get(i + 2).copied().and_then(hex);
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    let end = (i + 3).min(bytes.len());
                    let bad = String::from_utf8_lossy(bytes.get(i..end).unwrap_or_default());
                    return Err(format!(
                        "bad percent-encoding {bad:?} at byte {i}: a % must be followed by two hex digits"
                    ));
                };
                out.push(hi << 4 | lo);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 after percent-decoding".to_owned())
}

const fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> GroupName {
        GroupName::new(name).expect("valid")
    }

    #[test]
    fn the_known_paths_route() {
        assert_eq!(route("/", None), Ok(Route::Page));
        assert_eq!(route("/", Some("x=1")), Ok(Route::Page));
        assert_eq!(route("/metrics", None), Ok(Route::Metrics));
        assert_eq!(route("/api/v1/status", None), Ok(Route::Status));
        assert_eq!(route("/api/v1/peers", Some("")), Ok(Route::Peers));
        assert_eq!(route("/api/v1/groups", None), Ok(Route::Groups));
        assert_eq!(
            route("/api/v1/groups/demo/topology", None),
            Ok(Route::Topology {
                group: group("demo")
            })
        );
        assert_eq!(
            route("/api/v1/groups/demo/lookup", Some("key=0x2a")),
            Ok(Route::Lookup {
                group: group("demo"),
                key: "0x2a".into()
            })
        );
    }

    #[test]
    fn segments_are_split_before_they_are_decoded() {
        assert_eq!(
            route("/api/v1/groups/a%2Fb%20c+d/topology", None),
            Ok(Route::Topology {
                group: group("a/b c+d")
            })
        );
        assert_eq!(
            route(
                "/api/v1/groups/%C3%A9t%C3%A9/lookup",
                Some("key=user%3A42+x%2By")
            ),
            Ok(Route::Lookup {
                group: group("été"),
                key: "user:42 x+y".into()
            })
        );
    }

    #[test]
    fn unknown_paths_are_404_with_the_list_of_paths() {
        for p in [
            "/x",
            "/api/v1/status/",
            "/api/v1",
            "/api/v2/status",
            "/api/v1/groups/demo",
            "/api/v1/groups/demo/members",
            "//metrics",
            "/index.html",
        ] {
            let e = route(p, None).expect_err(p);
            assert_eq!(e.status, 404, "{p}");
            assert!(e.message.contains("/api/v1/groups/{group}/topology"), "{p}");
        }
        assert!(route("/api/x", None).expect_err("404").api);
        assert!(!route("/x", None).expect_err("404").api);
    }

    #[test]
    fn bad_group_names_are_400_and_say_why() {
        let e = route("/api/v1/groups/%zz/topology", None).expect_err("bad escape");
        assert_eq!(e.status, 400);
        assert!(e.message.contains("two hex digits"), "{}", e.message);
        let e = route("/api/v1/groups/%ff/topology", None).expect_err("not UTF-8");
        assert!(e.message.contains("not UTF-8"), "{}", e.message);
        let e = route("/api/v1/groups//topology", None).expect_err("empty");
        assert_eq!(e.status, 400);
        assert!(e.message.contains("1 to 255 bytes"), "{}", e.message);
        let long = "é".repeat(128);
        let e = route(&format!("/api/v1/groups/{long}/topology"), None).expect_err("long");
        assert!(e.message.contains("256 bytes long"), "{}", e.message);
        let max = "x".repeat(255);
        assert!(route(&format!("/api/v1/groups/{max}/topology"), None).is_ok());
        let e = route("/api/v1/groups/a%/topology", None).expect_err("truncated");
        assert!(e.message.contains("\"%\" at byte 1"), "{}", e.message);
    }

    #[test]
    fn lookup_needs_exactly_one_nonempty_key() {
        let p = "/api/v1/groups/demo/lookup";
        let e = route(p, None).expect_err("missing");
        assert_eq!(e.status, 400);
        assert!(e.message.contains("missing query parameter \"key\""));
        assert!(e.message.contains("0x-hex"));
        let e = route(p, Some("key=")).expect_err("empty");
        assert!(e.message.contains("is empty"), "{}", e.message);
        let e = route(p, Some("key")).expect_err("no value");
        assert!(e.message.contains("is empty"), "{}", e.message);
        let e = route(p, Some("key=1&key=2")).expect_err("twice");
        assert!(e.message.contains("more than once"), "{}", e.message);
        let e = route(p, Some("key=1&k=2")).expect_err("unknown");
        assert!(
            e.message.contains("unknown query parameter \"k\""),
            "{}",
            e.message
        );
        let e = route(p, Some("key=%4")).expect_err("bad escape");
        assert!(
            e.message.contains("query parameter \"key\""),
            "{}",
            e.message
        );
        assert_eq!(
            route(p, Some("&key=7&")),
            Ok(Route::Lookup {
                group: group("demo"),
                key: "7".into()
            })
        );
    }

    #[test]
    fn other_api_paths_take_no_query() {
        let e = route("/api/v1/status", Some("pretty=1")).expect_err("query");
        assert_eq!(e.status, 400);
        assert!(e.message.contains("takes no query parameters"));
    }

    #[test]
    fn decoding_never_panics_on_odd_input() {
        for s in ["%", "%%", "%0", "%0g", "+%2", "ab%", "\u{1F600}%41", "%C3"] {
            let _ = decode(s, true);
            let _ = route(&format!("/api/v1/groups/{s}/lookup"), Some(s));
        }
        assert_eq!(decode("%41%62+", false).as_deref(), Ok("Ab+"));
        assert_eq!(decode("%41%62+", true).as_deref(), Ok("Ab "));
    }

    /// Percent-encodes every byte that is not unreserved (as
    /// `encodeURIComponent` does).
    fn encode(s: &str) -> String {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    }

    proptest::proptest! {
        #[test]
        fn any_path_and_query_is_routed_or_refused(path in ".*", query in ".*") {
            let _ = route(&path, Some(&query));
        }

        #[test]
        fn an_encoded_group_and_key_come_back_as_they_were(
            name in "\\PC{1,60}",
            key in "\\PC{1,60}",
        ) {
            let path = format!("/api/v1/groups/{}/lookup", encode(&name));
            let query = format!("key={}", encode(&key));
            proptest::prop_assert_eq!(
                route(&path, Some(&query)),
                Ok(Route::Lookup { group: group(&name), key })
            );
        }
    }
}
