//! The `scalesmall` command.

use clap::Parser;

/// scalesmall: membership and key-range ownership for clusters of small ARM
/// boards.
///
/// This build contains the membership model only; the node (`scalesmall
/// run`) and its control commands arrive with the node issue.
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
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::KeyHash { key } => {
            let h = scalesmall::model::key_hash(key.as_bytes());
            println!("{h} ({h:#010x})");
        }
    }
}
