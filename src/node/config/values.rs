//! A setting's value as given ([`Raw`]: typed by TOML in the file, text in
//! a `SCALESMALL_*` variable or a flag) and the parse functions of the
//! settings table: each turns a `Raw` into the typed value or says what is
//! allowed ([`Bad`]). The same function reads all three sources, so a rule
//! is written once.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

use super::{HTTP_FORMAT, LogFormat, PEER_FORMAT, parse_http, parse_peer};

/// A value as given: from the file, typed by the setting's [`Kind`]; from a
/// variable or a flag, text (numbers, booleans and lists are parsed from
/// it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Raw {
    /// A TOML integer.
    Int(i64),
    /// A TOML boolean.
    Bool(bool),
    /// A TOML string, or the text of a variable or flag.
    Text(String),
    /// A TOML array of strings.
    List(Vec<String>),
}

impl fmt::Display for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Raw::Int(n) => write!(f, "{n}"),
            Raw::Bool(b) => write!(f, "{b}"),
            Raw::Text(s) => f.write_str(s),
            Raw::List(l) => f.write_str(&l.join(",")),
        }
    }
}

/// The TOML type a setting takes in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// An integer.
    Int,
    /// `true` or `false`.
    Bool,
    /// A string.
    Text,
    /// An array of strings (comma-separated in a variable or flag).
    List,
}

/// A refused value: the value (or the element of a list) and what is
/// allowed.
#[derive(Debug)]
pub(crate) struct Bad {
    /// The value given.
    pub value: String,
    /// What is wrong and what is allowed.
    pub problem: String,
}

fn bad(value: impl ToString, problem: impl ToString) -> Bad {
    Bad {
        value: value.to_string(),
        problem: problem.to_string(),
    }
}

/// Stores `v` in `slot` (the setter of a table row).
pub(crate) fn put<T>(slot: &mut T, v: Result<T, Bad>) -> Result<(), Bad> {
    *slot = v?;
    Ok(())
}

/// An integer, from the file or from text.
fn int(r: &Raw) -> Option<i64> {
    match r {
        Raw::Int(n) => Some(*n),
        Raw::Text(s) => s.trim().parse().ok(),
        Raw::Bool(_) | Raw::List(_) => None,
    }
}

/// An integer in `range`, else `problem`.
fn within(r: &Raw, range: core::ops::RangeInclusive<i64>, problem: &str) -> Result<u64, Bad> {
    int(r)
        .filter(|v| range.contains(v))
        .map(i64::unsigned_abs)
        .ok_or_else(|| bad(r, problem))
}

/// A port, 1..=65535.
pub(crate) fn port(r: &Raw) -> Result<u16, Bad> {
    let p = within(r, 1..=65535, "must be 1..=65535")?;
    u16::try_from(p).map_err(|_| bad(r, "must be 1..=65535"))
}

/// Text as given.
pub(crate) fn text(r: &Raw) -> Result<String, Bad> {
    Ok(r.to_string())
}

/// Text; empty is none.
pub(crate) fn some_text(r: &Raw) -> Result<Option<String>, Bad> {
    Ok(Some(r.to_string()).filter(|s| !s.is_empty()))
}

/// A path.
pub(crate) fn path(r: &Raw) -> Result<PathBuf, Bad> {
    Ok(PathBuf::from(r.to_string()))
}

/// `true`/`false` (also 1/0, yes/no, on/off in text).
pub(crate) fn boolean(r: &Raw) -> Result<bool, Bad> {
    match r {
        Raw::Bool(b) => Ok(*b),
        Raw::Text(s) => match s.trim() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(bad(r, "must be true or false")),
        },
        Raw::Int(_) | Raw::List(_) => Err(bad(r, "must be true or false")),
    }
}

/// The elements of a list (in text: comma-separated, blanks skipped).
fn items(r: &Raw) -> Vec<String> {
    match r {
        Raw::List(l) => l.clone(),
        _ => r
            .to_string()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    }
}

/// A list of paths.
pub(crate) fn paths(r: &Raw) -> Result<Vec<PathBuf>, Bad> {
    Ok(items(r).into_iter().map(PathBuf::from).collect())
}

/// A list of IP addresses.
pub(crate) fn ips(r: &Raw) -> Result<Vec<IpAddr>, Bad> {
    items(r)
        .iter()
        .map(|s| s.parse().map_err(|_| bad(s, "must be IP addresses")))
        .collect()
}

/// A list of seed addresses ([`parse_peer`]).
pub(crate) fn peers(r: &Raw) -> Result<Vec<SocketAddr>, Bad> {
    items(r)
        .iter()
        .map(|s| parse_peer(s).ok_or_else(|| bad(s, PEER_FORMAT)))
        .collect()
}

/// A multicast address of one family (`A`), else `problem`.
fn multicast<A: core::str::FromStr>(
    r: &Raw,
    is_multicast: fn(&A) -> bool,
    problem: &str,
) -> Result<A, Bad> {
    r.to_string()
        .parse::<A>()
        .ok()
        .filter(is_multicast)
        .ok_or_else(|| bad(r, problem))
}

/// An IPv4 multicast group.
pub(crate) fn group_v4(r: &Raw) -> Result<Ipv4Addr, Bad> {
    let problem =
        "must be an IPv4 multicast address, preferably administratively scoped (239.0.0.0/8)";
    multicast(r, Ipv4Addr::is_multicast, problem)
}

/// An IPv6 multicast group.
pub(crate) fn group_v6(r: &Raw) -> Result<Ipv6Addr, Bad> {
    let problem = "must be an IPv6 multicast address, preferably link-local scope (ff02::/16)";
    multicast(r, Ipv6Addr::is_multicast, problem)
}

/// A multicast TTL, 1..=255.
pub(crate) fn ttl(r: &Raw) -> Result<u32, Bad> {
    let t = within(r, 1..=255, "must be 1..=255 (1 keeps it on the LAN)")?;
    u32::try_from(t).map_err(|_| bad(r, "must be 1..=255"))
}

/// A year in seconds.
const YEAR_SECS: i64 = 365 * 24 * 3600;

/// `expire_after_secs`: a minute to a year.
pub(crate) fn expire_secs(r: &Raw) -> Result<u64, Bad> {
    within(
        r,
        60..=YEAR_SECS,
        "between 60 (a minute) and 31536000 (a year)",
    )
}

/// `tombstone_ttl_secs`: 0 (never) or a minute to a year.
pub(crate) fn tombstone_secs(r: &Raw) -> Result<u64, Bad> {
    let problem = "0 (never collect) or between 60 (a minute) and 31536000 (a year)";
    match int(r) {
        Some(0) => Ok(0),
        _ => within(r, 60..=YEAR_SECS, problem),
    }
}

/// `reconnect_interval_secs`: 1 s to an hour.
pub(crate) fn reconnect_secs(r: &Raw) -> Result<u64, Bad> {
    within(r, 1..=3600, "must be 1..=3600 (seconds)")
}

/// `[node] hook_window_ms`: up to a minute.
pub(crate) fn hook_window_ms(r: &Raw) -> Result<u64, Bad> {
    within(r, 0..=60_000, "must be 0..=60000 (milliseconds)")
}

/// `[auto] hold_down_secs`: up to a day.
pub(crate) fn hold_down_secs(r: &Raw) -> Result<u64, Bad> {
    within(r, 0..=24 * 3600, "must be 0..=86400 (seconds)")
}

/// `[auto] settle_secs`: up to ten minutes.
pub(crate) fn settle_secs(r: &Raw) -> Result<u64, Bad> {
    within(r, 0..=600, "must be 0..=600 (seconds)")
}

/// A log format.
pub(crate) fn log_format(r: &Raw) -> Result<LogFormat, Bad> {
    r.to_string().parse().map_err(|p| bad(r, p))
}

/// An HTTP listen address; empty or `off`: none.
pub(crate) fn http(r: &Raw) -> Result<Option<SocketAddr>, Bad> {
    parse_http(&r.to_string()).ok_or_else(|| bad(r, HTTP_FORMAT))
}

/// A cluster name, 1 to 255 bytes.
pub(crate) fn cluster_name(r: &Raw) -> Result<String, Bad> {
    let s = r.to_string();
    if s.is_empty() || s.len() > 255 {
        return Err(bad(r, "must be 1 to 255 bytes"));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_toml_values_parse_alike() {
        let t = |s: &str| Raw::Text(s.to_owned());
        assert_eq!(port(&t(" 80 ")).ok(), port(&Raw::Int(80)).ok());
        assert!(port(&t("0")).is_err() && port(&Raw::Int(70_000)).is_err());
        assert_eq!(boolean(&t("on")).ok(), Some(true));
        assert!(boolean(&t("maybe")).is_err() && boolean(&Raw::Int(1)).is_err());
        assert_eq!(tombstone_secs(&t("0")).ok(), Some(0));
        assert!(tombstone_secs(&Raw::Int(59)).is_err());
        let listed = Raw::List(vec!["10.0.0.1".into(), "10.0.0.2:7".into()]);
        assert_eq!(peers(&listed).ok(), peers(&t("10.0.0.1, 10.0.0.2:7,")).ok());
        let err = peers(&t("10.0.0.1,board.local")).unwrap_err();
        assert_eq!(err.value, "board.local", "the bad element is named");
    }
}
