//! The driver's side of `scalesmall keys`: requests to [`KeyAdmin`], the
//! new keyring to the protocol once it is stored, and `keys list` from
//! the protocol's keyring and each peer's [`crate::protocol::KeySeen`].

use crate::protocol::Millis;
use crate::wire::Key;

use super::super::key_admin::{KeyAdmin, KeyOp, ids, parse_id, show_id};
use super::super::request::{KeysView, Reply, SecretText, refused};
use super::Driver;
use super::views::peer_view;

impl Driver {
    /// Enables the keyring commands (without it they are refused).
    #[must_use]
    pub fn with_keys(mut self, admin: KeyAdmin) -> Self {
        self.keys = Some(admin);
        self
    }

    /// The answer to a `keys` request.
    pub(super) fn answer_keys(&mut self, now: Millis, op: &str, arg: Option<&SecretText>) -> Reply {
        let arg = arg.map_or("", |a| a.0.as_str());
        let op = match op {
            "list" => None,
            "install" => match Key::from_base64(arg) {
                Ok(k) => Some(KeyOp::Install(k)),
                Err(e) => return refused(format!("not a cluster key: {e}")),
            },
            "use" | "remove" => match parse_id(arg) {
                Ok(id) if op == "use" => Some(KeyOp::Use(id)),
                Ok(id) => Some(KeyOp::Remove(id)),
                Err(e) => return refused(e),
            },
            "reset" => Some(KeyOp::Reset),
            other => {
                return refused(format!(
                    "unknown keys command {other:?}: list, install, use, remove or reset"
                ));
            }
        };
        let Some(admin) = &self.keys else {
            return refused("key commands are not enabled on this node");
        };
        if let Some(r) = admin.refusal() {
            return refused(r);
        }
        let Some(op) = op else {
            return self.keys_view(now, false, None);
        };
        match admin.apply(self.chatter.keyring(), op) {
            Ok(out) => {
                let changed = out.ring.is_some();
                if let Some(ring) = out.ring {
                    self.chatter.set_keyring(now, ring);
                }
                self.keys_view(now, changed, out.installed)
            }
            Err(reason) => refused(reason),
        }
    }

    fn keys_view(&self, now: Millis, changed: bool, installed: Option<u32>) -> Reply {
        let c = &self.chatter;
        let ring = c.keyring();
        let from_file = self.keys.as_ref().is_some_and(KeyAdmin::from_file);
        let peers = c
            .peers()
            .iter()
            .filter_map(|p| {
                let seen = p.key_seen?;
                let mut v = peer_view(c, now, p);
                v.key_id = Some(show_id(seen.key_id));
                v.key_age_ms = Some(now.since(seen.at));
                Some(v)
            })
            .collect();
        Reply::Keys(Box::new(KeysView {
            changed,
            source: if from_file { "keyring" } else { "config" }.to_owned(),
            primary: show_id(ring.primary().id()),
            accepted: ids(ring),
            installed: installed.map(show_id),
            peers,
        }))
    }
}
