//! The `scalesmall` command: everything is in [`scalesmall::cli`].

fn main() -> std::process::ExitCode {
    scalesmall::cli::main()
}
