//! Host inspection: `kaprobe sysctl check` (are this host's keepalive settings fit for the
//! devices it sits behind?) and `kaprobe sockets` (which of its TCP connections have a
//! keepalive timer armed?). Both read procfs, either the live `/proc` or a copied tree
//! under `--root DIR`, and follow the report and exit-status conventions of `analyze`
//! (0 clean, 1 a finding reached `--fail-on`, 2 error).
//!
//! `--netns NAME`: sysctls under /proc/sys/net and the tables under /proc/net answer for
//! the network namespace of the reading process, so kaprobe re-runs itself as
//! `ip netns exec NAME kaprobe ...` (the same arguments; an environment variable marks the
//! child so that it does not re-enter) and passes the child's exit status through. This
//! needs root and iproute2, like `ip netns exec` itself, and keeps kaprobe free of unsafe
//! `setns(2)` calls.

pub mod cli;
pub mod ipvs;
pub mod output;
pub mod sockets;
pub mod sysctl;
pub mod sysctl_checks;

use crate::run::Outcome;
use crate::time::Timestamp;
use anyhow::{Context, Result, bail};
use cli::{SocketsArgs, SysctlCheckArgs, SysctlCommand};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};
use sysctl::{HostSettings, ProcRoot};
use sysctl_checks::StatedMiddlebox;

/// Set in the environment of the re-run child: the namespace it already runs in.
const ENTERED_NETNS_ENV: &str = "KAPROBE_ENTERED_NETNS";

pub fn run_sysctl(command: SysctlCommand) -> Result<Outcome> {
    match command {
        SysctlCommand::Check(args) => sysctl_check(args),
    }
}

fn sysctl_check(args: SysctlCheckArgs) -> Result<Outcome> {
    if args.list_middleboxes {
        output::write_middlebox_list(&args.output)?;
        return Ok(Outcome::Clean);
    }
    if let Some(name) = &args.netns
        && let Some(outcome) = enter_netns(name)?
    {
        return Ok(outcome);
    }
    let root = match &args.root {
        Some(dir) => ProcRoot::at(dir),
        None => ProcRoot::live(),
    };
    let settings = HostSettings::read(root)?;
    let mut stated: Vec<StatedMiddlebox> = args
        .middleboxes
        .iter()
        .filter_map(|middlebox| StatedMiddlebox::from_table(middlebox))
        .collect();
    stated.extend(
        args.middlebox_timeouts
            .iter()
            .map(|&seconds| StatedMiddlebox::from_timeout(seconds)),
    );
    let report = sysctl_checks::evaluate(
        &settings,
        &stated,
        args.dead_peer_target,
        args.netns.as_deref(),
        now(),
    );
    output::write_sysctl_report(&report, &args.output)?;
    let summary = crate::report::Summary {
        findings: report.summary.clone(),
        ..crate::report::Summary::default()
    };
    Ok(crate::run::outcome(&summary, &args.output))
}

pub fn run_sockets(args: SocketsArgs) -> Result<Outcome> {
    if let Some(name) = &args.netns
        && let Some(outcome) = enter_netns(name)?
    {
        return Ok(outcome);
    }
    let root = match &args.root {
        Some(dir) => ProcRoot::at(dir),
        None => ProcRoot::live(),
    };
    let listing = sockets::list(&root)?;
    let filter = sockets::Filter {
        established_only: args.established,
        without_keepalive_only: args.no_keepalive,
    };
    let listing = listing.filtered(&filter);
    output::write_sockets(&listing, &args.output)?;
    Ok(Outcome::Clean)
}

/// Re-runs this command inside network namespace `name`; `None` when already inside.
fn enter_netns(name: &str) -> Result<Option<Outcome>> {
    if std::env::var(ENTERED_NETNS_ENV).is_ok_and(|entered| entered == name) {
        return Ok(None);
    }
    if name.is_empty() || name.contains('/') || name == "." || name == ".." || name.len() > 255 {
        bail!("'{name}' is not a network namespace name (see `ip netns list`)");
    }
    // iproute2 keeps named namespaces as bind mounts here (ip-netns(8)).
    if !std::path::Path::new("/run/netns").join(name).exists() {
        bail!("network namespace '{name}' does not exist (/run/netns/{name}; see `ip netns list`)");
    }
    let exe = std::env::current_exe().context("finding the kaprobe executable to re-run")?;
    let status = Command::new("ip")
        .args(["netns", "exec", name])
        .arg(&exe)
        .args(std::env::args_os().skip(1))
        .env(ENTERED_NETNS_ENV, name)
        .status()
        .context("running `ip netns exec` (iproute2 is needed for --netns)")?;
    match status.code() {
        Some(0) => Ok(Some(Outcome::Clean)),
        Some(1) => Ok(Some(Outcome::FindingsReachedThreshold)),
        Some(code) => {
            bail!("kaprobe inside network namespace '{name}' failed (exit status {code})")
        }
        None => bail!("kaprobe inside network namespace '{name}' was killed by a signal"),
    }
}

/// Findings about the host are stamped with the time they were read.
fn now() -> Timestamp {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_nanos()).unwrap_or(i64::MAX)
        });
    Timestamp::from_nanos(nanos)
}
