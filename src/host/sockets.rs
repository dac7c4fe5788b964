//! `kaprobe sockets`: this host's TCP sockets from `/proc/net/tcp` and `/proc/net/tcp6`,
//! with the timer the kernel has armed on each and the process that owns it.
//!
//! Line format (net/ipv4/tcp_ipv4.c `get_tcp4_sock`, `get_timewait4_sock`, `get_openreq4`;
//! tcp_ipv6.c likewise): `sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout
//! inode ...`. Addresses are the raw network-order words printed with `%08X` on the
//! recording host, so they are decoded with this host's byte order (every mainstream Linux
//! target is little-endian). `tr` is the pending timer: 0 none, 1 retransmit (also
//! loss-probe and SYN-ACK), 2 the socket timer (the keepalive timer; in FIN_WAIT2 it runs the
//! FIN_WAIT2 timeout instead), 3 TIME_WAIT, 4 zero-window probe; `tm->when` is the time left
//! in USER_HZ (1/100 s) ticks. A retransmission or zero-window probe pending on a socket with
//! SO_KEEPALIVE hides the keepalive timer (the kernel prints the first that is pending), so
//! `keepalive` is "keepalive timer armed now". The `timeout` column is the number of
//! unanswered probes sent (`icsk_probes_out`). /proc/net/tcp does not expose idle time.
//!
//! Owners are found by reading the `socket:[INODE]` links under `/proc/PID/fd`; processes
//! whose fds cannot be read (other users, without root) are counted, not guessed.
//! Memory is bounded: at most [`MAX_SOCKETS`] lines per table and [`MAX_FD_LINKS`] fd links
//! are looked at; the listing says when a cap was reached.

use super::sysctl::{ProcRoot, read_small};
use anyhow::{Context, Result};
use serde::Serialize;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;

pub const MAX_SOCKETS: usize = 1_000_000;
pub const MAX_FD_LINKS: usize = 4_000_000;
/// Longest line kept; real lines are about 150 bytes.
const MAX_LINE_BYTES: u64 = 1024;
/// USER_HZ: clock ticks per second in `tm->when` (100 on every Linux architecture's ABI).
const USER_HZ: f64 = 100.0;

#[derive(Clone, Debug, Serialize)]
pub struct Process {
    pub pid: u32,
    pub name: String,
}

/// `sockets[]`: one TCP socket.
#[derive(Clone, Debug, Serialize)]
pub struct Socket {
    pub state: &'static str,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub inode: u64,
    pub uid: u32,
    pub process: Option<Process>,
    /// `keepalive`, `retransmit`, `time-wait`, `zero-window-probe` or `none`.
    pub timer: &'static str,
    /// Seconds until the timer fires (null when no timer is armed).
    pub timer_expires_s: Option<f64>,
    /// True when the keepalive timer is armed (the application set SO_KEEPALIVE).
    pub keepalive: bool,
    /// Unanswered keepalive or zero-window probes sent so far.
    pub probes_unanswered: u32,
    /// Retransmissions of the current segment (retrnsmt column).
    pub retransmits: u32,
    /// Seconds since the last data: not exposed by /proc/net/tcp, always null for now.
    pub idle_s: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct SocketsSummary {
    pub sockets: usize,
    pub established: usize,
    pub established_with_keepalive: usize,
    pub established_without_keepalive: usize,
    /// Processes whose open files could not be read (their sockets show no owner).
    pub processes_unreadable: usize,
}

/// The whole `kaprobe sockets` result, as printed by `--format json`.
#[derive(Clone, Debug, Serialize)]
pub struct SocketListing {
    pub schema_version: u32,
    pub root: String,
    pub summary: SocketsSummary,
    pub sockets: Vec<Socket>,
    pub warnings: Vec<String>,
}

pub struct Filter {
    pub established_only: bool,
    pub without_keepalive_only: bool,
}

impl SocketListing {
    pub fn filtered(mut self, filter: &Filter) -> SocketListing {
        self.sockets.retain(|socket| {
            (!filter.established_only || socket.state == "established")
                && (!filter.without_keepalive_only || !socket.keepalive)
        });
        self
    }
}

/// Reads both tables under `root` and finds the owners.
pub fn list(root: &ProcRoot) -> Result<SocketListing> {
    let mut sockets = Vec::new();
    let mut warnings = Vec::new();
    let mut found_any_table = false;
    for table in ["proc/net/tcp", "proc/net/tcp6"] {
        let path = root.path(table);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                return Err(error).with_context(|| format!("opening {}", path.display()));
            }
        };
        found_any_table = true;
        read_table(file, &path, &mut sockets, &mut warnings)?;
    }
    if !found_any_table {
        anyhow::bail!(
            "neither {} nor {} exists",
            root.path("proc/net/tcp").display(),
            root.path("proc/net/tcp6").display()
        );
    }
    let processes_unreadable = attach_owners(root, &mut sockets, &mut warnings);
    let summary = summarize(&sockets, processes_unreadable);
    Ok(SocketListing {
        schema_version: crate::report::SCHEMA_VERSION,
        root: root.root.display().to_string(),
        summary,
        sockets,
        warnings,
    })
}

fn read_table(
    file: File,
    path: &Path,
    sockets: &mut Vec<Socket>,
    warnings: &mut Vec<String>,
) -> Result<()> {
    let mut reader = BufReader::new(file);
    let mut line = Vec::new();
    let mut line_number = 0usize;
    let mut kept = 0usize;
    loop {
        line.clear();
        let read = (&mut reader)
            .take(MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        line_number += 1;
        if line_number == 1 {
            continue;
        }
        if kept == MAX_SOCKETS {
            warnings.push(format!(
                "{}: stopped after {MAX_SOCKETS} sockets",
                path.display()
            ));
            break;
        }
        let text = String::from_utf8_lossy(&line);
        match parse_line(&text) {
            Some(socket) => {
                sockets.push(socket);
                kept += 1;
            }
            None if text.trim().is_empty() => {}
            None => warnings.push(format!(
                "{} line {line_number}: not a socket line, skipped",
                path.display()
            )),
        }
    }
    Ok(())
}

/// Parses one socket line of /proc/net/tcp or tcp6.
pub fn parse_line(line: &str) -> Option<Socket> {
    let mut fields = line.split_whitespace();
    let slot = fields.next()?;
    if !slot.ends_with(':') {
        return None;
    }
    let local = parse_endpoint(fields.next()?)?;
    let remote = parse_endpoint(fields.next()?)?;
    let state = state_name(u8::from_str_radix(fields.next()?, 16).ok()?);
    let _queues = fields.next()?;
    let (timer_code, when) = fields.next()?.split_once(':')?;
    let timer_code = u8::from_str_radix(timer_code, 16).ok()?;
    let when_ticks = u64::from_str_radix(when, 16).ok()?;
    let retransmits = u32::from_str_radix(fields.next()?, 16).ok()?;
    let uid = fields.next()?.parse().ok()?;
    let probes_unanswered = fields.next()?.parse().ok()?;
    let inode = fields.next()?.parse().ok()?;
    let timer = timer_name(timer_code);
    let keepalive = timer_code == 2 && state != "fin-wait-2";
    Some(Socket {
        state,
        local,
        remote,
        inode,
        uid,
        process: None,
        timer,
        timer_expires_s: (timer_code != 0).then(|| when_ticks as f64 / USER_HZ),
        keepalive,
        probes_unanswered,
        retransmits,
        idle_s: None,
    })
}

/// `0100007F:1F90` or a 32-digit IPv6 address with port.
fn parse_endpoint(text: &str) -> Option<SocketAddr> {
    let (address, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let ip = match address.len() {
        8 => {
            let word = u32::from_str_radix(address, 16).ok()?;
            IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes()))
        }
        32 => {
            let mut bytes = [0u8; 16];
            for (index, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                let digits = address.get(index * 8..index * 8 + 8)?;
                let word = u32::from_str_radix(digits, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// include/net/tcp_states.h.
fn state_name(code: u8) -> &'static str {
    match code {
        0x01 => "established",
        0x02 => "syn-sent",
        0x03 => "syn-recv",
        0x04 => "fin-wait-1",
        0x05 => "fin-wait-2",
        0x06 => "time-wait",
        0x07 => "close",
        0x08 => "close-wait",
        0x09 => "last-ack",
        0x0A => "listen",
        0x0B => "closing",
        0x0C => "new-syn-recv",
        _ => "unknown",
    }
}

fn timer_name(code: u8) -> &'static str {
    match code {
        1 => "retransmit",
        2 => "keepalive",
        3 => "time-wait",
        4 => "zero-window-probe",
        _ => "none",
    }
}

/// Fills `process` from `/proc/PID/fd` links; returns how many processes were unreadable.
fn attach_owners(root: &ProcRoot, sockets: &mut [Socket], warnings: &mut Vec<String>) -> usize {
    let mut wanted: HashMap<u64, Option<Process>> = sockets
        .iter()
        .filter(|socket| socket.inode != 0)
        .map(|socket| (socket.inode, None))
        .collect();
    if wanted.is_empty() {
        return 0;
    }
    let Ok(entries) = fs::read_dir(root.path("proc")) else {
        return 0;
    };
    let mut unreadable = 0;
    let mut links_seen = 0usize;
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else {
            unreadable += 1;
            continue;
        };
        let mut name: Option<String> = None;
        for fd in fds.flatten() {
            links_seen += 1;
            if links_seen > MAX_FD_LINKS {
                warnings.push(format!(
                    "stopped looking for socket owners after {MAX_FD_LINKS} open files"
                ));
                return unreadable;
            }
            let Some(inode) = fs::read_link(fd.path())
                .ok()
                .and_then(|target| socket_inode(&target.to_string_lossy()))
            else {
                continue;
            };
            if let Some(slot @ None) = wanted.get_mut(&inode) {
                let name = name.get_or_insert_with(|| process_name(&entry.path()));
                *slot = Some(Process {
                    pid,
                    name: name.clone(),
                });
            }
        }
    }
    for socket in sockets.iter_mut() {
        if let Some(Some(process)) = wanted.get(&socket.inode) {
            socket.process = Some(process.clone());
        }
    }
    unreadable
}

/// `socket:[12345]` → 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

fn process_name(process_dir: &Path) -> String {
    match read_small(&process_dir.join("comm")) {
        Ok(Some(text)) => text
            .trim_end()
            .chars()
            .filter(|c| !c.is_control())
            .collect(),
        _ => "?".into(),
    }
}

fn summarize(sockets: &[Socket], processes_unreadable: usize) -> SocketsSummary {
    let established: Vec<&Socket> = sockets
        .iter()
        .filter(|socket| socket.state == "established")
        .collect();
    let with_keepalive = established.iter().filter(|s| s.keepalive).count();
    SocketsSummary {
        sockets: sockets.len(),
        established: established.len(),
        established_with_keepalive: with_keepalive,
        established_without_keepalive: established.len() - with_keepalive,
        processes_unreadable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_keepalive_line_is_decoded() {
        let line = "   3: 0100007F:A2C4 0100007F:1F90 01 00000000:00000000 02:0000EA5F 00000000  1000        0 123456 1 0000000000000000 20 4 30 10 -1";
        let socket = parse_line(line).unwrap();
        assert_eq!(socket.local.to_string(), "127.0.0.1:41668");
        assert_eq!(socket.remote.to_string(), "127.0.0.1:8080");
        assert_eq!(socket.state, "established");
        assert_eq!(socket.timer, "keepalive");
        assert!(socket.keepalive);
        assert_eq!(socket.timer_expires_s, Some(599.99));
        assert_eq!((socket.uid, socket.inode), (1000, 123_456));
    }

    #[test]
    fn ipv6_loopback_and_time_wait_are_decoded() {
        let line = "   0: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:A2C4 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000";
        let socket = parse_line(line).unwrap();
        assert_eq!(socket.local.to_string(), "[::1]:8080");
        assert_eq!(socket.state, "time-wait");
        assert_eq!(socket.timer, "time-wait");
        assert!(!socket.keepalive);
        assert_eq!(socket.timer_expires_s, Some(60.0));
    }

    #[test]
    fn garbage_is_rejected_without_panic() {
        for line in [
            "",
            "sl local_address",
            "0: zz:1 00:00 01",
            "0: 0100007F:1F90 0100007F:1F90 01 0:0 02:XYZ 0 0 0 1",
            "0: 0100007F 0100007F:1F90",
            "0: 0100007F:1F90 0100007F:1F90 01 0:0 02:00 0 0 0",
        ] {
            assert!(parse_line(line).is_none(), "{line}");
        }
        assert_eq!(socket_inode("socket:[42]"), Some(42));
        assert_eq!(socket_inode("pipe:[42]"), None);
    }
}
