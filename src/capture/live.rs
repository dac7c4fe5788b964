//! Live capture from a network interface through libpcap (the `pcap` crate; cargo feature
//! `capture`), yielding the same [`RawPacket`]s as the file readers.
//!
//! Follows what tcpdump does with libpcap (pcap(3PCAP), pcap_create/pcap_activate): the
//! handle is configured before activation (snapshot length, promiscuous mode, immediate mode,
//! kernel buffer size, a read timeout so the caller regains control to check its stop
//! conditions), `-i any` is switched to LINKTYPE_LINUX_SLL2 when libpcap offers it (as tcpdump
//! does since 4.99: it carries the interface index), and the BPF filter is compiled for the
//! link type actually in use. Timestamps are microseconds, libpcap's default.
//!
//! The read timeout alone cannot bound a wait: on Linux with TPACKET_V3 (libpcap's choice
//! unless immediate mode) the kernel's block timer does not fire while no packet arrives, so an
//! idle interface would block forever (pcap(3PCAP), "read timeout"). A [`Wakeup`] thread
//! therefore calls pcap_breakloop periodically, which since libpcap 1.10 wakes the blocked poll
//! through an eventfd; the interrupted read reports "no packet" and loses nothing.
//!
//! libpcap's errors are strings; the ones users meet first are rewritten into what to do:
//! missing privileges (CAP_NET_RAW, and how to grant it with setcap), an interface that does
//! not exist (with the list of those that do), a filter that does not compile.

use super::{LinkType, RawPacket};
use crate::time::Timestamp;
use anyhow::{Context, Result, anyhow};
use pcap::{Active, Capture, Device, Linktype};
use serde::Serialize;
use std::net::IpAddr;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// LINKTYPE_LINUX_SLL2: what `-i any` is switched to.
const LINKTYPE_LINUX_SLL2: i32 = 276;

/// How to open the capture; every field maps to one command-line option.
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// Interface name; `None`: libpcap's default device (the first of pcap_findalldevs).
    pub interface: Option<String>,
    /// A pcap-filter(7) expression, as given to tcpdump.
    pub filter: Option<String>,
    pub snaplen: u32,
    pub promiscuous: bool,
    /// Deliver each packet as it arrives instead of in kernel-filled blocks.
    pub immediate: bool,
    /// Kernel capture buffer, bytes.
    pub buffer_bytes: u32,
    /// Longest wait inside libpcap before [`LiveCapture::next_packet`] returns empty-handed.
    pub read_timeout_ms: u32,
}

/// libpcap's packet counters at the end of a capture (pcap_stats(3PCAP)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DropStatistics {
    /// Packets that passed the filter and reached libpcap's buffer (Linux: the kernel count).
    pub received: u64,
    /// Dropped because the buffer was full: the analysis is missing these.
    pub dropped_by_kernel: u64,
    /// Dropped by the interface or its driver, when the platform reports it.
    pub dropped_by_interface: u64,
}

/// An interface as listed by `kaprobe capture --list-interfaces`.
#[derive(Clone, Debug, Serialize)]
pub struct InterfaceInfo {
    pub name: String,
    pub description: Option<String>,
    pub addresses: Vec<IpAddr>,
    pub up: bool,
    pub running: bool,
    pub loopback: bool,
}

pub struct LiveCapture {
    capture: Capture<Active>,
    pub interface: String,
    pub link_type: LinkType,
    /// The LINKTYPE_ number, for writing the frames to a pcap file.
    pub link_number: u32,
    pub snaplen: u32,
}

impl LiveCapture {
    /// Opens and activates the interface and installs the filter.
    pub fn open(options: &LiveOptions) -> Result<LiveCapture> {
        let interface = match &options.interface {
            Some(name) => name.clone(),
            None => default_interface()?,
        };
        let mut capture = activate(&interface, options)
            .map_err(|error| explain_open_error(&interface, &error.to_string()))?;
        if interface == "any" {
            prefer_sll2(&mut capture);
        }
        if let Some(filter) = &options.filter {
            capture
                .filter(filter, true)
                .map_err(|error| explain_filter_error(filter, &error.to_string()))?;
        }
        let number = capture.get_datalink().0;
        let link_number = u32::try_from(number).unwrap_or(u32::MAX);
        Ok(LiveCapture {
            capture,
            interface,
            link_type: LinkType::from_number(link_number),
            link_number,
            snaplen: options.snaplen,
        })
    }

    /// Waits up to the read timeout for one frame and copies it into `packet` (whose buffer is
    /// reused). `Ok(false)`: the timeout passed with nothing to deliver.
    pub fn next_packet(&mut self, packet: &mut RawPacket) -> Result<bool> {
        match self.capture.next_packet() {
            Ok(frame) => {
                // time_t and suseconds_t differ in width between platforms.
                #[allow(clippy::unnecessary_cast)]
                let (seconds, micros) = (
                    frame.header.ts.tv_sec as i64,
                    frame.header.ts.tv_usec as i64,
                );
                packet.ts = timestamp(seconds, micros);
                packet.input = 0;
                packet.interface = 0;
                packet.link_type = self.link_type;
                packet.original_len = frame.header.len;
                packet.data.clear();
                packet.data.extend_from_slice(frame.data);
                Ok(true)
            }
            // NoMorePackets is pcap_next_ex's -2: here, a Wakeup's pcap_breakloop.
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(false),
            Err(error) => Err(anyhow!(
                "reading packets from {} failed: {error}",
                self.interface
            )),
        }
    }

    /// Starts a thread that interrupts a blocked [`LiveCapture::next_packet`] every `period`
    /// until the returned [`Wakeup`] is dropped.
    pub fn wake_every(&mut self, period: Duration) -> Result<Wakeup> {
        let breaker = self.capture.breakloop_handle();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("kaprobe-wakeup".into())
            .spawn(move || {
                // Ends when the sender is dropped (Disconnected) or sends.
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    breaker.breakloop();
                }
            })
            .context("starting the capture wakeup thread")?;
        Ok(Wakeup {
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// The kernel's counters; `None` when the platform cannot tell.
    pub fn statistics(&mut self) -> Option<DropStatistics> {
        let stat = self.capture.stats().ok()?;
        Some(DropStatistics {
            received: u64::from(stat.received),
            dropped_by_kernel: u64::from(stat.dropped),
            dropped_by_interface: u64::from(stat.if_dropped),
        })
    }
}

/// Stops its thread when dropped.
pub struct Wakeup {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Wakeup {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _thread_only_sleeps_and_cannot_fail = thread.join();
        }
    }
}

fn activate(interface: &str, options: &LiveOptions) -> Result<Capture<Active>, pcap::Error> {
    Capture::from_device(interface)?
        .snaplen(i32::try_from(options.snaplen).unwrap_or(i32::MAX))
        .promisc(options.promiscuous)
        .immediate_mode(options.immediate)
        .buffer_size(i32::try_from(options.buffer_bytes).unwrap_or(i32::MAX))
        .timeout(i32::try_from(options.read_timeout_ms).unwrap_or(i32::MAX))
        .open()
}

/// `-i any` defaults to LINUX_SLL, which has no interface index; SLL2 has it. Kept when
/// libpcap cannot switch (older than 1.10): SLL is decoded too.
fn prefer_sll2(capture: &mut Capture<Active>) {
    let offered = capture
        .list_datalinks()
        .is_ok_and(|links| links.contains(&Linktype(LINKTYPE_LINUX_SLL2)));
    if offered {
        let _ignored_keeps_sll = capture.set_datalink(Linktype(LINKTYPE_LINUX_SLL2));
    }
}

/// A libpcap `timeval` (seconds, microseconds) as nanoseconds; out of range gives 0.
fn timestamp(seconds: i64, micros: i64) -> Timestamp {
    let nanos = seconds
        .checked_mul(Timestamp::NANOS_PER_SEC)
        .and_then(|n| n.checked_add(micros.saturating_mul(1000)))
        .unwrap_or(0);
    Timestamp::from_nanos(nanos)
}

/// libpcap's default device: the first one pcap_findalldevs returns, as tcpdump picks it.
pub fn default_interface() -> Result<String> {
    match Device::lookup() {
        Ok(Some(device)) => Ok(device.name),
        Ok(None) => Err(anyhow!(
            "libpcap found no interface to capture on; name one with -i (see kaprobe capture --list-interfaces){}",
            privilege_hint_if_not_root()
        )),
        Err(error) => Err(anyhow!(
            "libpcap could not list the interfaces: {error}{}",
            privilege_hint_if_not_root()
        )),
    }
}

/// Every interface libpcap can open, in its order.
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>> {
    let devices = Device::list().context("libpcap could not list the interfaces")?;
    Ok(devices
        .into_iter()
        .map(|device| InterfaceInfo {
            addresses: device.addresses.iter().map(|a| a.addr).collect(),
            up: device.flags.is_up(),
            running: device.flags.is_running(),
            loopback: device.flags.is_loopback(),
            name: device.name,
            description: device.desc,
        })
        .collect())
}

/// What to run to let a non-root user capture.
pub const SETCAP_COMMAND: &str = "sudo setcap cap_net_raw,cap_net_admin=eip $(command -v kaprobe)";

fn explain_open_error(interface: &str, libpcap: &str) -> anyhow::Error {
    if is_permission_error(libpcap) {
        return anyhow!(
            "no permission to capture on {interface}: capturing needs the CAP_NET_RAW capability \
(and CAP_NET_ADMIN for promiscuous mode and the buffer size). Run kaprobe as root, or grant \
the capabilities to the binary once with:\n    {SETCAP_COMMAND}\n(libpcap said: {libpcap})"
        );
    }
    if interface_is_unknown(interface, libpcap) {
        return anyhow!(
            "there is no interface named '{interface}'{}; see kaprobe capture --list-interfaces \
(libpcap said: {libpcap})",
            known_interfaces_text()
        );
    }
    anyhow!("cannot capture on {interface}: {libpcap}")
}

fn explain_filter_error(filter: &str, libpcap: &str) -> anyhow::Error {
    anyhow!(
        "invalid capture filter '{filter}': {libpcap}. The filter is a tcpdump (pcap-filter(7)) \
expression, e.g. 'tcp port 443 or vrrp'"
    )
}

/// EPERM/EACCES from socket(AF_PACKET) or the ioctls, as libpcap words them.
pub fn is_permission_error(libpcap: &str) -> bool {
    let text = libpcap.to_ascii_lowercase();
    ["permission", "operation not permitted", "not permitted"]
        .iter()
        .any(|needle| text.contains(needle))
}

fn interface_is_unknown(interface: &str, libpcap: &str) -> bool {
    let text = libpcap.to_ascii_lowercase();
    if text.contains("no such device") {
        return true;
    }
    Device::list().is_ok_and(|devices| !devices.iter().any(|d| d.name == interface))
}

fn known_interfaces_text() -> String {
    match Device::list() {
        Ok(devices) if !devices.is_empty() => {
            let names: Vec<String> = devices.into_iter().map(|d| d.name).collect();
            format!(" (there are: {})", names.join(", "))
        }
        _ => String::new(),
    }
}

fn privilege_hint_if_not_root() -> String {
    if is_root() {
        String::new()
    } else {
        format!(
            ". Without CAP_NET_RAW libpcap may see no interfaces: run as root or grant it with: {SETCAP_COMMAND}"
        )
    }
}

/// Effective uid 0, read from /proc so that no unsafe libc call is needed.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|line| line.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            .is_some_and(|effective| effective == "0")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpcap_permission_wordings_are_recognized() {
        assert!(is_permission_error(
            "You don't have permission to perform this capture on that device (socket: Operation not permitted)"
        ));
        assert!(is_permission_error("socket: Operation not permitted"));
        assert!(!is_permission_error(
            "nosuch0: No such device exists (SIOCGIFINDEX: No such device)"
        ));
    }

    #[test]
    fn permission_errors_say_how_to_grant_the_capability() {
        let error = explain_open_error("eth0", "socket: Operation not permitted").to_string();
        assert!(error.contains("CAP_NET_RAW"), "{error}");
        assert!(
            error.contains("setcap cap_net_raw,cap_net_admin=eip"),
            "{error}"
        );
        assert!(error.contains("socket: Operation not permitted"), "{error}");
    }

    #[test]
    fn microsecond_timevals_become_nanoseconds() {
        assert_eq!(
            timestamp(1_700_000_000, 123_456),
            Timestamp::from_nanos(1_700_000_000_123_456_000)
        );
        assert_eq!(timestamp(i64::MAX, 0), Timestamp::from_nanos(0));
    }
}
