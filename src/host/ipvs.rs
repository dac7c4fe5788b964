//! IPVS (Linux Virtual Server) connection timeouts of this host, when IPVS is loaded.
//!
//! The kernel keeps them outside /proc/sys (they are read through the IPVS sockopt/netlink
//! interface), so kaprobe takes, in order: the output of `ipvsadm -Ln --timeout` run on the
//! live host; the same output saved by sosreport (`sos_commands/ipvs/ipvsadm_-Ln_--timeout`,
//! sos `ipvs` plugin) under `--root`; else the kernel defaults of
//! net/netfilter/ipvs/ip_vs_proto_tcp.c (tcp 900 s, tcpfin 120 s, udp 300 s), saying so.
//! IPVS counts as loaded when `/proc/net/ip_vs` exists.

use super::sysctl::{ProcRoot, read_small};
use std::process::Command;

/// Kernel defaults (ip_vs_proto_tcp.c `tcp_timeouts[]`, ip_vs_proto_udp.c).
pub const DEFAULT_TCP_SECS: u64 = 900;
pub const DEFAULT_TCPFIN_SECS: u64 = 120;
pub const DEFAULT_UDP_SECS: u64 = 300;

/// Where sosreport saves `ipvsadm -Ln --timeout`.
pub const SOS_TIMEOUT_FILE: &str = "sos_commands/ipvs/ipvsadm_-Ln_--timeout";

#[derive(Clone, Debug, PartialEq)]
pub struct IpvsTimeouts {
    pub tcp_secs: u64,
    pub tcpfin_secs: u64,
    pub udp_secs: u64,
    /// How the figures were obtained, for the report (`ipvsadm -Ln --timeout`, a file path,
    /// or the assumed kernel defaults).
    pub source: String,
}

/// The timeouts when IPVS is loaded under `root`, `None` when it is not.
pub fn read(root: &ProcRoot) -> Option<IpvsTimeouts> {
    let sos_file = root.path(SOS_TIMEOUT_FILE);
    let loaded = root.path("proc/net/ip_vs").exists() || (!root.live && sos_file.exists());
    if !loaded {
        return None;
    }
    if root.live
        && let Some(timeouts) = from_ipvsadm()
    {
        return Some(timeouts);
    }
    if !root.live
        && let Ok(Some(text)) = read_small(&sos_file)
        && let Some(timeouts) = parse_timeout_line(&text, &sos_file.display().to_string())
    {
        return Some(timeouts);
    }
    Some(IpvsTimeouts {
        tcp_secs: DEFAULT_TCP_SECS,
        tcpfin_secs: DEFAULT_TCPFIN_SECS,
        udp_secs: DEFAULT_UDP_SECS,
        source: "assumed kernel defaults (ipvsadm -Ln --timeout output not available)".into(),
    })
}

fn from_ipvsadm() -> Option<IpvsTimeouts> {
    let output = Command::new("ipvsadm")
        .args(["-Ln", "--timeout"])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(output.stdout.get(..4096).unwrap_or(&output.stdout));
    parse_timeout_line(&text, "ipvsadm -Ln --timeout")
}

/// Parses `Timeout (tcp tcpfin udp): 900 120 300`.
pub fn parse_timeout_line(text: &str, source: &str) -> Option<IpvsTimeouts> {
    let line = text
        .lines()
        .find(|line| line.trim_start().starts_with("Timeout (tcp tcpfin udp):"))?;
    let (_, numbers) = line.split_once(':')?;
    let mut values = numbers.split_whitespace().map(|n| n.parse::<u64>().ok());
    let tcp_secs = values.next()??;
    let tcpfin_secs = values.next()??;
    let udp_secs = values.next()??;
    Some(IpvsTimeouts {
        tcp_secs,
        tcpfin_secs,
        udp_secs,
        source: source.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipvsadm_timeout_output_is_parsed() {
        let parsed = parse_timeout_line("Timeout (tcp tcpfin udp): 900 120 300\n", "x").unwrap();
        assert_eq!(
            (parsed.tcp_secs, parsed.tcpfin_secs, parsed.udp_secs),
            (900, 120, 300)
        );
        assert!(parse_timeout_line("Timeout (tcp tcpfin udp): 900 x 300", "x").is_none());
        assert!(parse_timeout_line("IP Virtual Server version 1.2.1", "x").is_none());
    }
}
