//! Value parsers for the command line's arguments.
//!
//! Each checks its argument the way the node (or the config) would, before
//! anything else happens, so malformed input is a usage error: clap prints
//! it in its own format (`error: invalid value '10..5' for '<RANGE>': …`,
//! the usage line, a pointer to `--help`) and exits 2, whether or not a
//! daemon is running. The control commands' parsers return the argument as
//! given (the request carries it as text and the node parses it again: the
//! HTTP API and other clients send text too).

use core::net::SocketAddr;
use core::str::FromStr;

use crate::model::{GroupName, KeyRange, NodeId};
use crate::node::config::{self, LogFormat};

/// A group name: 1 to 255 bytes of UTF-8.
///
/// # Errors
/// The node's explanation (empty, or too long).
pub fn group(s: &str) -> Result<String, String> {
    GroupName::new(s)
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// A key range: `START..END` (inclusive), decimal or 0x-hex, or `full`.
///
/// # Errors
/// The node's explanation of what a key range is.
pub fn range(s: &str) -> Result<String, String> {
    s.parse::<KeyRange>()
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// A key: a u32 (decimal or 0x-hex) or any other non-empty string, which
/// is hashed. An empty key is refused: it is almost always an unset
/// variable in a script, not a key anybody stores.
///
/// # Errors
/// For an empty (or all-blank) key.
pub fn key(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(format!(
            "{s:?} is not a key: expected a u32 (decimal or 0x-hex) or a non-empty string, which is hashed"
        ));
    }
    Ok(s.to_owned())
}

/// A key id: 8 hex digits, `0x` optional, as `keys list` shows it.
///
/// # Errors
/// What a key id looks like.
pub fn key_id(s: &str) -> Result<String, String> {
    crate::node::key_admin::parse_id(s).map(|_| s.to_owned())
}

/// A cluster key file (one line of base64 from `scalesmall keygen`), or
/// `-` for standard input: read and checked here, so a bad file is a usage
/// error before the node is contacted. Returns the key's text (the request
/// carries it as [`crate::node::request::SecretText`], never printed).
///
/// # Errors
/// The file cannot be read, or does not hold a cluster key.
pub fn key_file(s: &str) -> Result<String, String> {
    let (path, name) = if s == "-" {
        ("/dev/stdin", "standard input")
    } else {
        (s, s)
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the key file {name}: {e}"))?;
    crate::wire::Key::from_base64(&text)
        .map_err(|e| format!("{name} does not hold a cluster key: {e}"))?;
    Ok(text.trim().to_owned())
}

/// A node id: 1 to 16 hex digits, as `peers` and `status` show it.
///
/// # Errors
/// The node's explanation of what a node id is.
pub fn node(s: &str) -> Result<String, String> {
    s.trim()
        .parse::<NodeId>()
        .map(|_| s.to_owned())
        .map_err(|e| e.to_string())
}

/// A seed peer: `IP:PORT`, `[IPv6]:PORT`, or an IP alone (port 29999).
///
/// # Errors
/// What a seed address must look like.
pub fn peer(s: &str) -> Result<SocketAddr, String> {
    config::parse_peer(s).ok_or_else(|| config::PEER_FORMAT.to_owned())
}

/// The HTTP listen address: `ADDR:PORT`, or `off`.
///
/// # Errors
/// What an HTTP address must look like.
pub fn http(s: &str) -> Result<String, String> {
    config::parse_http(s)
        .map(|_| s.to_owned())
        .ok_or_else(|| config::HTTP_FORMAT.to_owned())
}

/// A log format: auto, human, compact or json.
///
/// # Errors
/// The formats there are.
pub fn log_format(s: &str) -> Result<LogFormat, String> {
    s.parse()
}

/// A log filter in `RUST_LOG` syntax without regexes (`info`,
/// `scalesmall=debug,warn`).
///
/// # Errors
/// Why the filter does not parse.
pub fn log_filter(s: &str) -> Result<String, String> {
    tracing_subscriber::filter::Targets::from_str(s)
        .map(|_| s.to_owned())
        .map_err(|e| format!("{e} (a filter is like info or scalesmall=debug,warn)"))
}

/// A cluster name: 1 to 255 bytes.
///
/// # Errors
/// For an empty or over-long name.
pub fn cluster(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 255 {
        return Err(format!(
            "a cluster name is 1 to 255 bytes; this one is {}",
            s.len()
        ));
    }
    Ok(s.to_owned())
}

/// A UDP/TCP port the node listens on: 1 to 65535.
///
/// # Errors
/// For 0, a negative number, too large a number or no number.
pub fn port(s: &str) -> Result<u16, String> {
    s.trim()
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| "a port is a number from 1 to 65535".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_parser_takes_the_good_and_explains_the_bad() {
        assert_eq!(group("demo"), Ok("demo".to_owned()));
        assert_eq!(group(""), Err("group name is empty".to_owned()));
        assert!(group(&"x".repeat(256)).unwrap_err().contains("255"));
        assert_eq!(range("full"), Ok("full".to_owned()));
        assert!(range("10..5").unwrap_err().contains("is not a key range"));
        assert_eq!(key("user:42"), Ok("user:42".to_owned()));
        assert!(key(" ").unwrap_err().contains("is not a key"));
        assert_eq!(node("3f2a9c0d12e4b7a1"), Ok("3f2a9c0d12e4b7a1".to_owned()));
        assert!(node("xyz").unwrap_err().contains("is not a node id"));
        assert_eq!(
            peer("10.0.0.1"),
            Ok(SocketAddr::from(([10, 0, 0, 1], 29999)))
        );
        assert_eq!(
            peer("[fd00::2]"),
            Ok("[fd00::2]:29999".parse::<SocketAddr>().unwrap())
        );
        assert_eq!(peer("fd00::2"), peer("[fd00::2]:29999"));
        assert!(peer("board.local").is_err());
        assert_eq!(http("off"), Ok("off".to_owned()));
        assert!(http("29980").is_err());
        assert_eq!(log_format("json"), Ok(LogFormat::Json));
        assert!(log_format("xml").is_err());
        assert!(log_filter("scalesmall=debug,warn").is_ok());
        assert!(log_filter("scalesmall=loud").is_err());
        assert!(cluster("").is_err());
        assert_eq!(port("29999"), Ok(29999));
        for bad in ["0", "-1", "65536", "x"] {
            assert!(port(bad).is_err(), "{bad}");
        }
    }
}
