//! The `scalesmall` command.

mod bench;

use std::process::ExitCode;

use clap::Parser;

/// scalesmall: membership and key-range ownership for clusters of small ARM
/// boards.
///
/// This build contains the membership model and the wire codec; the node
/// (`scalesmall run`) and its control commands arrive with the node issue.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Print the 32-bit key of a string key (xxHash32, seed 0), as `lookup`
    /// would use it.
    ///
    /// Example: `scalesmall key-hash user:42`
    KeyHash {
        /// The key, as UTF-8 text.
        key: String,
    },

    /// Print a new random cluster key (32 bytes, base64).
    ///
    /// Every node of a cluster needs the same key: it seals and
    /// authenticates every frame. Anyone holding it can speak for any
    /// member, so keep it like a root password and rotate it when a board
    /// is lost (docs/wire.md, "Keyring").
    ///
    /// The key goes to standard output, the advice to standard error, so
    ///
    ///     scalesmall keygen > /etc/scalesmall/cluster.key
    ///
    /// writes a key file and nothing else.
    Keygen,

    /// Measure merge and codec speed on this machine (a few seconds).
    ///
    /// Prints a table with the architecture, the version and nanoseconds
    /// per operation; paste it into an issue when reporting performance on
    /// a board:
    ///
    ///     scalesmall bench
    Bench,
}

fn keygen() -> ExitCode {
    let mut bytes = [0u8; 32];
    if let Err(e) = getrandom::fill(&mut bytes) {
        eprintln!("error: cannot read OS randomness: {e}");
        return ExitCode::FAILURE;
    }
    let key = scalesmall::wire::Key::from_bytes(bytes);
    println!("{}", key.to_base64());
    eprintln!(
        "# key id {:#010x}; give this key to every node of the cluster (config `key` or a key file) and keep it secret",
        key.id()
    );
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::KeyHash { key } => {
            let h = scalesmall::model::key_hash(key.as_bytes());
            println!("{h} ({h:#010x})");
            ExitCode::SUCCESS
        }
        Command::Keygen => keygen(),
        Command::Bench => match bench::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
