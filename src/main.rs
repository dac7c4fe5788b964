//! The `kaprobe` binary: parse the command line, run it, map the outcome to an exit status.

use clap::Parser;
use kaprobe::cli::Cli;
use kaprobe::run::{Outcome, run};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::FindingsReachedThreshold) => ExitCode::from(1),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("kaprobe: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// `kaprobe analyze x.pcap | head` must end quietly when head stops reading.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
