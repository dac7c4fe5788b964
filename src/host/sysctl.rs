//! Reads the TCP keepalive, retransmission, conntrack and IPVS settings of one host (or one
//! network namespace) from procfs.
//!
//! Sysctls are files under `ROOT/proc/sys` named after the dotted sysctl name with `.`
//! replaced by `/` (sysctl(8)). ROOT is `/` on the live host, or `--root DIR` for a copied
//! tree such as an unpacked sosreport. `/proc/sys/net` is per network namespace: the kernel
//! answers with the values of the reader's namespace, which is why `--netns` re-runs kaprobe
//! inside the namespace (see `host::enter_netns`) instead of reading other files.
//! Every file read is capped at [`MAX_SYSCTL_BYTES`]; contents are never trusted to be
//! numbers.

use super::ipvs::{self, IpvsTimeouts};
use anyhow::{Result, bail};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Sysctl files hold one short line; anything longer is not a sysctl value.
pub const MAX_SYSCTL_BYTES: u64 = 4096;

pub const KEEPALIVE_TIME: &str = "net.ipv4.tcp_keepalive_time";
pub const KEEPALIVE_INTVL: &str = "net.ipv4.tcp_keepalive_intvl";
pub const KEEPALIVE_PROBES: &str = "net.ipv4.tcp_keepalive_probes";
pub const RETRIES2: &str = "net.ipv4.tcp_retries2";
pub const FIN_TIMEOUT: &str = "net.ipv4.tcp_fin_timeout";
pub const TW_REUSE: &str = "net.ipv4.tcp_tw_reuse";
pub const CONNTRACK_ESTABLISHED: &str = "net.netfilter.nf_conntrack_tcp_timeout_established";
pub const CONNTRACK_LOOSE: &str = "net.netfilter.nf_conntrack_tcp_loose";
pub const CONNTRACK_COUNT: &str = "net.netfilter.nf_conntrack_count";

/// One sysctl as read: where from, the text, and the number in it when it is one.
#[derive(Clone, Debug)]
pub struct Reading {
    pub name: &'static str,
    pub path: PathBuf,
    pub outcome: ReadOutcome,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ReadOutcome {
    Number(u64),
    /// The file exists but does not hold one unsigned number (the text, shortened).
    NotANumber(String),
    Missing,
    /// The file could not be read (permission, I/O); the error text.
    Unreadable(String),
}

impl Reading {
    pub fn number(&self) -> Option<u64> {
        match self.outcome {
            ReadOutcome::Number(value) => Some(value),
            _ => None,
        }
    }
}

/// Where settings are read from.
#[derive(Clone, Debug)]
pub struct ProcRoot {
    pub root: PathBuf,
    /// True when reading the live host's /proc (so commands like ipvsadm may be run).
    pub live: bool,
}

impl ProcRoot {
    pub fn live() -> ProcRoot {
        ProcRoot {
            root: PathBuf::from("/"),
            live: true,
        }
    }

    pub fn at(root: &Path) -> ProcRoot {
        ProcRoot {
            root: root.to_path_buf(),
            live: false,
        }
    }

    /// `ROOT/proc/sys/net/ipv4/tcp_keepalive_time` for `net.ipv4.tcp_keepalive_time`.
    pub fn sysctl_path(&self, name: &str) -> PathBuf {
        let mut path = self.root.join("proc/sys");
        for part in name.split('.') {
            path.push(part);
        }
        path
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn read(&self, name: &'static str) -> Reading {
        let path = self.sysctl_path(name);
        let outcome = read_number(&path);
        Reading {
            name,
            path,
            outcome,
        }
    }
}

/// Reads a small file holding one unsigned number.
pub fn read_number(path: &Path) -> ReadOutcome {
    match read_small(path) {
        Ok(None) => ReadOutcome::Missing,
        Ok(Some(text)) => {
            let trimmed = text.trim();
            match trimmed.parse::<u64>() {
                Ok(value) => ReadOutcome::Number(value),
                Err(_) => ReadOutcome::NotANumber(shorten(trimmed)),
            }
        }
        Err(error) => ReadOutcome::Unreadable(error),
    }
}

/// The file's text (at most [`MAX_SYSCTL_BYTES`]), `None` when it does not exist.
pub fn read_small(path: &Path) -> Result<Option<String>, String> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(format!("{}: {error}", path.display())),
    };
    let mut bytes = Vec::new();
    file.take(MAX_SYSCTL_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("{}: {error}", path.display()))?;
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// At most 40 printable characters, for messages about unexpected file contents.
fn shorten(text: &str) -> String {
    text.chars()
        .take(40)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Everything `sysctl check` looks at.
#[derive(Clone, Debug)]
pub struct HostSettings {
    pub root: ProcRoot,
    pub keepalive_time: Reading,
    pub keepalive_intvl: Reading,
    pub keepalive_probes: Reading,
    pub retries2: Reading,
    pub fin_timeout: Reading,
    pub tw_reuse: Reading,
    /// Present when the conntrack module is loaded (its sysctls exist).
    pub conntrack: Option<Conntrack>,
    /// Present when IPVS is loaded (`/proc/net/ip_vs` exists).
    pub ipvs: Option<IpvsTimeouts>,
}

#[derive(Clone, Debug)]
pub struct Conntrack {
    pub established: Reading,
    pub loose: Reading,
    /// Entries tracked right now: 0 suggests no rule uses conntrack in this namespace.
    pub count: Reading,
}

impl HostSettings {
    pub fn read(root: ProcRoot) -> Result<HostSettings> {
        let ipv4 = root.sysctl_path("net.ipv4");
        if !ipv4.is_dir() {
            bail!(
                "{} does not exist: is {} a filesystem root with a /proc copy?",
                ipv4.display(),
                root.root.display()
            );
        }
        let established = root.read(CONNTRACK_ESTABLISHED);
        let conntrack = (established.outcome != ReadOutcome::Missing).then(|| Conntrack {
            established,
            loose: root.read(CONNTRACK_LOOSE),
            count: root.read(CONNTRACK_COUNT),
        });
        Ok(HostSettings {
            keepalive_time: root.read(KEEPALIVE_TIME),
            keepalive_intvl: root.read(KEEPALIVE_INTVL),
            keepalive_probes: root.read(KEEPALIVE_PROBES),
            retries2: root.read(RETRIES2),
            fin_timeout: root.read(FIN_TIMEOUT),
            tw_reuse: root.read(TW_REUSE),
            conntrack,
            ipvs: ipvs::read(&root),
            root,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_names_map_to_proc_sys_paths() {
        let root = ProcRoot::at(Path::new("/tmp/x"));
        assert_eq!(
            root.sysctl_path(KEEPALIVE_TIME),
            PathBuf::from("/tmp/x/proc/sys/net/ipv4/tcp_keepalive_time")
        );
    }

    #[test]
    fn file_contents_are_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v");
        std::fs::write(&path, "7200\n").unwrap();
        assert_eq!(read_number(&path), ReadOutcome::Number(7200));
        std::fs::write(&path, "-1\n").unwrap();
        assert_eq!(read_number(&path), ReadOutcome::NotANumber("-1".into()));
        std::fs::write(&path, "9".repeat(10_000)).unwrap();
        assert!(matches!(read_number(&path), ReadOutcome::NotANumber(t) if t.len() == 40));
        assert_eq!(read_number(&dir.path().join("nope")), ReadOutcome::Missing);
    }
}
