//! Command-line definitions of `kaprobe sysctl check` and `kaprobe sockets` (clap derive),
//! referenced from `crate::cli::Command`.

use crate::cli::{OutputArgs, parse_seconds};
use crate::knowledge::middleboxes;
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum SysctlCommand {
    /// Check this host's TCP keepalive settings against the devices it sits behind.
    #[command(after_help = SYSCTL_EXAMPLES)]
    Check(SysctlCheckArgs),
}

const SYSCTL_EXAMPLES: &str = "Examples:
  kaprobe sysctl check --middlebox aws-nlb
  kaprobe sysctl check --middlebox-timeout 5m --middlebox lvs --format json
  kaprobe sysctl check --root /tmp/sosreport-host1 --middlebox azure-lb";

#[derive(Debug, Args)]
pub struct SysctlCheckArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// Read DIR/proc/sys/... instead of /proc/sys (an unpacked sosreport, a copied tree).
    #[arg(long, value_name = "DIR", conflicts_with = "netns")]
    pub root: Option<PathBuf>,
    /// Read the values of network namespace NAME (as listed by `ip netns list`); kaprobe
    /// re-runs itself under `ip netns exec NAME`, which needs root.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Idle timeout of a layer-4 device on the path (load balancer, NAT, firewall); repeatable.
    #[arg(long = "middlebox-timeout", value_name = "DURATION", value_parser = parse_seconds)]
    pub middlebox_timeouts: Vec<f64>,
    /// A device on the path by name, with its documented default idle timeout; repeatable.
    /// `--list-middleboxes` shows the names.
    #[arg(long = "middlebox", value_name = "NAME", value_parser = parse_middlebox)]
    pub middleboxes: Vec<&'static middleboxes::Middlebox>,
    /// Print the table of known middleboxes, their idle timeouts and sources, and exit.
    #[arg(long)]
    pub list_middleboxes: bool,
    /// Longest acceptable time to notice a silently dead idle peer
    /// (keepalive_time + keepalive_intvl × keepalive_probes).
    #[arg(long, value_name = "DURATION", default_value = "15m", value_parser = parse_seconds)]
    pub dead_peer_target: f64,
}

#[derive(Debug, Args)]
pub struct SocketsArgs {
    #[command(flatten)]
    pub output: OutputArgs,
    /// Read DIR/proc/net/tcp{,6} and DIR/proc/PID/fd instead of /proc.
    #[arg(long, value_name = "DIR", conflicts_with = "netns")]
    pub root: Option<PathBuf>,
    /// List the sockets of network namespace NAME (re-runs under `ip netns exec NAME`).
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Only ESTABLISHED connections.
    #[arg(long)]
    pub established: bool,
    /// Only sockets without an armed keepalive timer.
    #[arg(long)]
    pub no_keepalive: bool,
}

fn parse_middlebox(name: &str) -> Result<&'static middleboxes::Middlebox, String> {
    let middlebox = middleboxes::by_name(name).ok_or_else(|| {
        format!(
            "unknown middlebox '{name}'; known: {}",
            middleboxes::names().join(", ")
        )
    })?;
    if middlebox.default_idle_secs.is_none() {
        return Err(format!(
            "{} has no default idle timeout ({}); state yours with --middlebox-timeout",
            middlebox.name, middlebox.note
        ));
    }
    Ok(middlebox)
}
