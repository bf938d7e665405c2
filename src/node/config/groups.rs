//! The `[[groups]]` entries of the config file: the groups a node declares
//! (desired state), their claims, auto mode and auto-claim policy, checked
//! into [`DeclaredGroup`]s with errors that name the group and the key.

use serde::Deserialize;

use super::{ConfigError, DeclaredAuto, DeclaredClaim, DeclaredGroup, invalid};
use crate::model::GroupName;
use crate::protocol::auto_claim::Policy;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupSection {
    name: String,
    #[serde(default)]
    claims: Vec<ClaimSection>,
    auto: Option<bool>,
    weight: Option<i64>,
    priority: Option<i64>,
    port: Option<i64>,
    replicas: Option<i64>,
    slices: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimSection {
    range: String,
    #[serde(default)]
    priority: i64,
    #[serde(default)]
    port: i64,
}

fn u16_field(origin: &str, key: &str, v: i64) -> Result<u16, ConfigError> {
    u16::try_from(v).map_err(|_| invalid(origin, key, v, "must be 0..=65535"))
}

/// The declared groups; a group declared twice is an error (the second
/// would silently undo the first's claims).
pub(super) fn declared_groups(
    origin: &str,
    groups: &[GroupSection],
) -> Result<Vec<DeclaredGroup>, ConfigError> {
    let mut out: Vec<DeclaredGroup> = Vec::with_capacity(groups.len());
    for g in groups {
        let d = declared(origin, g)?;
        if out.iter().any(|o| o.name == d.name) {
            return Err(invalid(
                origin,
                "groups.name",
                &g.name,
                "declared twice: list all claims of a group in one [[groups]] entry",
            ));
        }
        out.push(d);
    }
    Ok(out)
}

/// The auto-mode keys of a group: `auto`, `weight`, `priority`, `port`
/// (only with `auto = true`), and the policy (`replicas`, `slices`).
fn declared_auto(
    origin: &str,
    g: &GroupSection,
) -> Result<(Option<DeclaredAuto>, Option<Policy>), ConfigError> {
    let key = |k: &str| format!("groups[{}].{k}", g.name);
    let on = g.auto.unwrap_or(false);
    if !on {
        for (k, v) in [
            ("weight", g.weight),
            ("priority", g.priority),
            ("port", g.port),
        ] {
            if let Some(v) = v {
                return Err(invalid(
                    origin,
                    &key(k),
                    v,
                    "only allowed with auto = true (it applies to the ranges auto mode claims; \
                     a manual claim sets its own priority and port in claims)",
                ));
            }
        }
    }
    if on && !g.claims.is_empty() {
        return Err(invalid(
            origin,
            &key("claims"),
            format!("{} claims", g.claims.len()),
            "not allowed with auto = true: in auto mode the node picks its own ranges; \
             remove the claims, or remove auto = true to claim them by hand",
        ));
    }
    let auto = if on {
        Some(DeclaredAuto {
            weight: match g.weight {
                Some(v) => u16_field(origin, &key("weight"), v)?,
                None => 1,
            },
            priority: g
                .priority
                .map(|v| u16_field(origin, &key("priority"), v))
                .transpose()?,
            port: g
                .port
                .map(|v| u16_field(origin, &key("port"), v))
                .transpose()?
                .unwrap_or(0),
        })
    } else {
        None
    };
    Ok((auto, declared_policy(origin, g)?))
}

/// The group's auto-claim policy, if `replicas` or `slices` is set.
fn declared_policy(origin: &str, g: &GroupSection) -> Result<Option<Policy>, ConfigError> {
    let key = |k: &str| format!("groups[{}].{k}", g.name);
    if g.replicas.is_none() && g.slices.is_none() {
        return Ok(None);
    }
    let replicas = match g.replicas {
        Some(v) => u32::try_from(v)
            .ok()
            .filter(|r| (1..=Policy::MAX_REPLICAS).contains(r))
            .ok_or_else(|| {
                invalid(
                    origin,
                    &key("replicas"),
                    v,
                    format!(
                        "must be 1..={} (nodes serving each key)",
                        Policy::MAX_REPLICAS
                    ),
                )
            })?,
        None => Policy::DEFAULT_REPLICAS,
    };
    let slices = match g.slices {
        Some(v) => u32::try_from(v)
            .ok()
            .filter(|s| s.is_power_of_two() && *s <= Policy::MAX_SLICES)
            .ok_or_else(|| {
                invalid(
                    origin,
                    &key("slices"),
                    v,
                    format!(
                        "must be a power of two from 1 to {} (e.g. 256 or 1024)",
                        Policy::MAX_SLICES
                    ),
                )
            })?,
        None => Policy::DEFAULT_SLICES,
    };
    Ok(Some(Policy::new(replicas, slices).map_err(|e| {
        invalid(origin, &key("replicas"), replicas, e)
    })?))
}

fn declared(origin: &str, g: &GroupSection) -> Result<DeclaredGroup, ConfigError> {
    let name = GroupName::new(&g.name).map_err(|e| invalid(origin, "groups.name", &g.name, e))?;
    let claims = g
        .claims
        .iter()
        .map(|c| {
            let key = format!("groups[{}].claims.range", g.name);
            Ok(DeclaredClaim {
                range: c
                    .range
                    .parse()
                    .map_err(|e: crate::model::ParseKeyRangeError| {
                        invalid(origin, &key, &c.range, e)
                    })?,
                priority: u16_field(origin, "groups.claims.priority", c.priority)?,
                port: u16_field(origin, "groups.claims.port", c.port)?,
            })
        })
        .collect::<Result<_, ConfigError>>()?;
    let (auto, policy) = declared_auto(origin, g)?;
    Ok(DeclaredGroup {
        name,
        claims,
        auto,
        policy,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{env_error, env_of, write};
    use super::super::{Config, DEFAULT_HOLD_DOWN_SECS, Overrides};
    use super::*;

    #[test]
    fn empty_claims_declare_a_group_without_claims() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/e")]);
        let p = write(
            "noclaims",
            "[[groups]]\nname = \"demo\"\nclaims = []\n[[groups]]\nname = \"other\"\n",
        );
        let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
        assert_eq!(c.groups.len(), 2);
        assert!(c.groups.iter().all(|g| g.claims.is_empty()));
        let _ = std::fs::remove_file(p);
    }

    #[test]
    fn auto_groups_and_policies_are_read_with_defaults() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/a")]);
        let p = write(
            "auto",
            "[auto]\nhold_down_secs = 2\nsettle_secs = 1\n\
             [[groups]]\nname = \"kv\"\nauto = true\nweight = 3\npriority = 5\nport = 8080\nreplicas = 3\nslices = 256\n\
             [[groups]]\nname = \"cache\"\nauto = true\n\
             [[groups]]\nname = \"plain\"\nclaims = [{ range = \"0..9\" }]\n",
        );
        let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
        let _ = std::fs::remove_file(p);
        assert_eq!(
            c.groups[0].auto,
            Some(DeclaredAuto {
                weight: 3,
                priority: Some(5),
                port: 8080
            })
        );
        assert_eq!(c.groups[0].policy, Some(Policy::new(3, 256).unwrap()));
        assert_eq!(
            c.groups[1].auto,
            Some(DeclaredAuto {
                weight: 1,
                priority: None,
                port: 0
            })
        );
        assert_eq!(
            c.groups[1].policy, None,
            "no replicas/slices: the default policy"
        );
        assert_eq!((c.groups[2].auto, c.groups[2].policy), (None, None));
        let a = c.protocol().auto;
        assert_eq!((a.hold_down, a.settle), (2_000, 1_000));
        assert_eq!(a.policies.len(), 1);
        assert_eq!(a.policy(&c.groups[0].name), Policy::new(3, 256).unwrap());
        assert_eq!(a.policy(&c.groups[1].name), Policy::default());
        // Without [auto]: the defaults; the environment beats the file.
        let env = env_of(&[
            ("SCALESMALL_DATA_DIR", "/tmp/a"),
            ("SCALESMALL_AUTO_SETTLE_SECS", "0"),
        ]);
        let c = Config::load(None, &env, &Overrides::default()).unwrap();
        assert_eq!(c.auto_hold_down_secs, DEFAULT_HOLD_DOWN_SECS);
        assert_eq!(c.auto_settle_secs, 0);
        // A policy alone (a board that reads the group) is allowed.
        let p = write("policy-only", "[[groups]]\nname = \"kv\"\nslices = 64\n");
        let c = Config::load(Some(&p), &env, &Overrides::default()).unwrap();
        let _ = std::fs::remove_file(p);
        assert_eq!(c.groups[0].policy, Some(Policy::new(2, 64).unwrap()));
        assert_eq!(c.groups[0].auto, None);
    }

    #[test]
    fn bad_auto_settings_name_the_key_and_what_is_allowed() {
        let env = env_of(&[("SCALESMALL_DATA_DIR", "/tmp/b")]);
        let g = "[[groups]]\nname = \"kv\"\n";
        for (text, needle) in [
            (
                format!("{g}auto = true\nclaims = [{{ range = \"0..9\" }}]\n"),
                "groups[kv].claims = \"1 claims\": not allowed with auto = true",
            ),
            (
                format!("{g}weight = 2\n"),
                "groups[kv].weight = \"2\": only allowed with auto = true",
            ),
            (
                format!("{g}auto = false\nport = 80\n"),
                "groups[kv].port = \"80\": only allowed with auto = true",
            ),
            (
                format!("{g}auto = true\nweight = 70000\n"),
                "groups[kv].weight = \"70000\": must be 0..=65535",
            ),
            (
                format!("{g}auto = true\nweight = -1\n"),
                "groups[kv].weight = \"-1\": must be 0..=65535",
            ),
            (
                format!("{g}auto = true\nslices = 1000\n"),
                "groups[kv].slices = \"1000\": must be a power of two from 1 to 2048",
            ),
            (
                format!("{g}auto = true\nreplicas = 0\n"),
                "groups[kv].replicas = \"0\": must be 1..=64",
            ),
            (format!("{g}auto = \"yes\"\n"), "invalid type"),
            (format!("{g}autoo = true\n"), "unknown field `autoo`"),
            (
                "[auto]\nhold_down_secs = -5\n".to_owned(),
                "auto.hold_down_secs = \"-5\": must be 0..=86400 (seconds)",
            ),
            (
                "[auto]\nsettle_secs = 601\n".to_owned(),
                "auto.settle_secs = \"601\": must be 0..=600 (seconds)",
            ),
            ("[auto]\nperiod = 1\n".to_owned(), "unknown field `period`"),
        ] {
            let p = write("badauto", &text);
            let err = Config::load(Some(&p), &env, &Overrides::default())
                .unwrap_err()
                .to_string();
            let _ = std::fs::remove_file(p);
            assert!(err.contains(needle), "{text:?} gave {err}");
        }
        let err = env_error("SCALESMALL_AUTO_HOLD_DOWN_SECS", "soon");
        assert!(
            err.contains("environment SCALESMALL_AUTO_HOLD_DOWN_SECS")
                && err.contains("must be 0..=86400"),
            "{err}"
        );
    }
}
