//! `scalesmall keys ...`: this board's cluster keys, changed while it runs
//! (a key rotation without restarts). The subcommands, their requests to
//! the node's control socket, and the human output (key ids only: key
//! material is never printed).

use clap::{Args, Subcommand};

use crate::node::request::{KeysView, Request, SecretText};

use super::{CtlArgs, parse};

/// `scalesmall keys ...`
#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// This board's key ids and the key each peer sends with.
    ///
    /// Prints the primary key id (every frame this board sends is sealed
    /// with it), every accepted key id, where they come from (the data
    /// dir's keyring file, or the config), and for each peer the key id in
    /// the header of the last frame received from it. A rotation is done
    /// when every peer that is alive shows the new id.
    ///
    /// Example: `scalesmall keys list --json`
    List(CtlArgs),

    /// Accept frames sealed with a key (rotation step 1, on every board)
    ///
    /// FILE holds one line of base64 from `scalesmall keygen` (`-` reads
    /// standard input). This board keeps sending with its primary key; it
    /// now also accepts the new one. Stored in the data dir's keyring file
    /// (mode 0600), which from then on overrides cluster.key_file and
    /// accept_key_files, also after a restart. The key goes to the node
    /// over the local control socket only; prints its id.
    ///
    /// Examples:
    ///
    ///   scalesmall keygen > new.key        # once, then copy new.key to every board
    ///   scalesmall keys install new.key
    #[command(verbatim_doc_comment)]
    Install {
        /// The key file, or `-` for standard input.
        #[arg(value_name = "FILE", value_parser = parse::key_file)]
        key: String,
        /// How to reach the node.
        #[command(flatten)]
        ctl: CtlArgs,
    },

    /// Send with an installed key (rotation step 2, once every board
    /// accepts it).
    ///
    /// ID is a key id as `keys list` or `keys install` prints it. The old
    /// primary stays accepted until removed. Refused for an id not
    /// installed.
    ///
    /// Example: `scalesmall keys use 0x1a2b3c4d`
    Use(IdArgs),

    /// Stop accepting a key (rotation step 3, once no peer sends with it).
    ///
    /// Refused for the key this board sends with (`keys use` another
    /// first); an id not installed changes nothing. Check first that `keys
    /// list` on every board shows no peer on the old id.
    ///
    /// Example: `scalesmall keys remove 0x0badf00d`
    Remove(IdArgs),

    /// Delete the keyring file and go back to the config's keys.
    ///
    /// The node then seals with cluster.key_file (or <data dir>/cluster.key)
    /// and accepts accept_key_files, at once and after restarts. Put the
    /// cluster's current key into cluster.key_file first: if the config's
    /// keys are not the ones the others use, this board stops understanding
    /// them. Refused (the keyring file stays) if the configured key files
    /// cannot be read; never generates a key. Without a keyring file it
    /// changes nothing.
    ///
    /// Example: `scalesmall keys reset`
    Reset(CtlArgs),
}

/// `keys use` and `keys remove`: a key id (one definition for both keeps
/// the binary small).
#[derive(Args, Debug)]
pub struct IdArgs {
    /// The key id (8 hex digits, 0x optional), as `keys list` prints it.
    #[arg(value_name = "ID", value_parser = parse::key_id)]
    id: String,
    /// How to reach the node.
    #[command(flatten)]
    ctl: CtlArgs,
}

/// The request of a `keys` subcommand and how to reach the node.
#[must_use]
pub fn request_of(cmd: KeysCmd) -> (Request, CtlArgs) {
    let keys = |op: &str, arg: Option<String>| Request::Keys {
        op: op.to_owned(),
        arg: arg.map(SecretText),
    };
    match cmd {
        KeysCmd::List(ctl) => (keys("list", None), ctl),
        KeysCmd::Install { key, ctl } => (keys("install", Some(key)), ctl),
        KeysCmd::Use(a) => (keys("use", Some(a.id)), a.ctl),
        KeysCmd::Remove(a) => (keys("remove", Some(a.id)), a.ctl),
        KeysCmd::Reset(ctl) => (keys("reset", None), ctl),
    }
}

/// `keys` output for people; `write`: the answer to install, use, remove
/// or reset (says `changed` or `unchanged` first, as other writes do).
pub fn print(k: &KeysView, write: bool) {
    if let Some(id) = &k.installed {
        if k.changed {
            println!(
                "changed: installed key {id} (accepted; `scalesmall keys use {id}` sends with it)"
            );
        } else {
            println!("unchanged: key {id} is already installed");
        }
    } else if write {
        println!("{}", if k.changed { "changed" } else { "unchanged" });
    }
    match k.source.as_str() {
        "keyring" => println!(
            "source    the data dir's keyring file (overrides cluster.key_file and \
             accept_key_files; `scalesmall keys reset` goes back to them)"
        ),
        _ => println!("source    config (cluster.key_file, accept_key_files)"),
    }
    println!("primary   {} (frames are sealed with it)", k.primary);
    println!("accepted  {}", k.accepted.join(" "));
    if k.peers.is_empty() {
        println!("no peer heard yet");
        return;
    }
    println!(
        "{:<16}  {:<10}  {:>10}  STATE",
        "PEER", "KEY ID", "LAST FRAME"
    );
    for p in &k.peers {
        let key = p.key_id.as_deref().unwrap_or("-");
        let mark = if key == k.primary {
            ""
        } else {
            "  (not our primary)"
        };
        println!(
            "{:<16}  {:<10}  {:>9.1}s  {}{mark}",
            p.id,
            key,
            p.key_age_ms.unwrap_or(0) as f64 / 1000.0,
            p.state
        );
    }
}
