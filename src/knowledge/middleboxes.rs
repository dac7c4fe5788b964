//! The one table of middlebox and proxy idle timeouts: load balancers, NATs, firewalls,
//! connection trackers and L7 proxies that forget an idle TCP connection after a while.
//!
//! Each row gives the device's default idle timeout, what it does when the timer fires, the
//! exact knob that changes it, and the document the figure comes from. Rows whose figure was
//! not confirmed against the primary document say so (`verified: false`).
//!
//! The rule kaprobe applies with it (RFC 1122 §4.2.3.6 keepalive, Linux `tcp_keepalive_*`):
//! TCP keepalive probes are segments on the wire, so they refresh the idle timer of devices
//! that track flows at layer 4 (IPVS, conntrack, NLB, NAT gateways, stateful firewalls). L7
//! proxies terminate TCP and their kernel answers the probes without waking the proxy, so
//! keepalive never keeps an ALB, CLB, nginx, HAProxy or Envoy idle timer alive
//! (AWS CLB idle-timeout doc; Envoy timeouts FAQ).

use serde::Serialize;
use std::fmt;

/// What the device does when an idle flow's timer fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expiry {
    /// Forgets the flow without telling anyone; later packets are dropped (or hit a host that
    /// answers with RST), so the connection hangs until the endpoints' own timers fire.
    SilentDrop,
    /// Sends RST to both endpoints when the timer fires.
    ResetBoth,
    /// Forgets the flow and answers the next packet of it with RST, to that sender only.
    ResetNextSender,
    /// Silent drop by default; an option makes it send RST to both endpoints.
    DropOrResetBoth,
    /// An L7 proxy closes its side (FIN) of the idle connection.
    ProxyClose,
}

impl Expiry {
    pub fn describe(self) -> &'static str {
        match self {
            Expiry::SilentDrop => "silent drop (later packets dropped, no RST)",
            Expiry::ResetBoth => "RST to both sides",
            Expiry::ResetNextSender => "flow forgotten; RST to whoever sends next",
            Expiry::DropOrResetBoth => "silent drop by default; RST to both sides if enabled",
            Expiry::ProxyClose => "proxy closes the connection (FIN)",
        }
    }
}

impl fmt::Display for Expiry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Where the device holds connection state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    /// Tracks flows packet by packet (keepalive probes refresh its timer).
    L4,
    /// Terminates TCP and proxies requests (keepalive probes never reach it).
    L7,
}

/// One device, with its default idle timeout and where that figure comes from.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Middlebox {
    /// Stable kebab-case name used by `--middlebox NAME`.
    pub name: &'static str,
    pub display_name: &'static str,
    pub layer: Layer,
    /// Default idle timeout of an established TCP flow, in seconds; `None` when the product
    /// has no default (HAProxy without `timeout client`).
    pub default_idle_secs: Option<u32>,
    pub at_expiry: Expiry,
    /// Whether TCP keepalive probes (empty segments) reset the device's idle timer.
    pub keepalive_keeps_alive: bool,
    /// The exact setting that changes the idle timeout.
    pub knob: &'static str,
    /// Anything else worth knowing about the timer.
    pub note: &'static str,
    /// The document the default and the behaviour come from.
    pub source: &'static str,
    /// False when the figure was not confirmed against the primary document.
    pub verified: bool,
}

impl Middlebox {
    pub fn default_idle_secs_f64(&self) -> Option<f64> {
        self.default_idle_secs.map(f64::from)
    }
}

/// Every known device, L4 state holders first, then L7 proxies.
pub const MIDDLEBOXES: &[Middlebox] = &[
    Middlebox {
        name: "lvs",
        display_name: "Linux Virtual Server (IPVS), incl. kube-proxy IPVS mode",
        layer: Layer::L4,
        default_idle_secs: Some(900),
        at_expiry: Expiry::SilentDrop,
        keepalive_keeps_alive: true,
        knob: "ipvsadm --set TCP TCPFIN UDP (e.g. ipvsadm --set 7200 120 300); keepalived: \
               lvs_timeouts tcp N; kube-proxy: --ipvs-tcp-timeout",
        note: "ESTABLISHED 900 s, FIN_WAIT 120 s, UDP 300 s; a non-SYN packet after expiry is \
               dropped or re-scheduled to a backend that answers RST",
        source: "https://github.com/torvalds/linux/blob/master/net/netfilter/ipvs/ip_vs_proto_tcp.c \
                 (tcp_timeouts[]); kubernetes/kubernetes#84041",
        verified: true,
    },
    Middlebox {
        name: "conntrack",
        display_name: "Linux netfilter connection tracking (NAT, stateful iptables/nftables)",
        layer: Layer::L4,
        default_idle_secs: Some(432_000),
        at_expiry: Expiry::SilentDrop,
        keepalive_keeps_alive: true,
        knob: "sysctl -w net.netfilter.nf_conntrack_tcp_timeout_established=N",
        note: "5 days by default; with nf_conntrack_tcp_loose=0 a forgotten flow is never \
               picked up again mid-stream",
        source: "https://docs.kernel.org/networking/nf_conntrack-sysctl.html",
        verified: true,
    },
    Middlebox {
        name: "aws-ec2-sg",
        display_name: "AWS EC2 security-group connection tracking",
        layer: Layer::L4,
        default_idle_secs: Some(432_000),
        at_expiry: Expiry::SilentDrop,
        keepalive_keeps_alive: true,
        knob: "ENI ConnectionTrackingSpecification TcpEstablishedTimeout (60-432000 s)",
        note: "only tracked flows (not every security-group rule tracks)",
        source: "https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ConnectionTrackingConfiguration.html",
        verified: true,
    },
    Middlebox {
        name: "aws-nlb",
        display_name: "AWS Network Load Balancer",
        layer: Layer::L4,
        default_idle_secs: Some(350),
        at_expiry: Expiry::ResetNextSender,
        keepalive_keeps_alive: true,
        knob: "listener attribute tcp.idle_timeout.seconds (60-6000; TLS listeners fixed at 350 s)",
        note: "the RST to a late sender is widely reported but not stated in the fetched doc",
        source: "https://docs.aws.amazon.com/elasticloadbalancing/latest/network/update-idle-timeout.html",
        verified: true,
    },
    Middlebox {
        name: "aws-network-firewall",
        display_name: "AWS Network Firewall",
        layer: Layer::L4,
        default_idle_secs: Some(350),
        at_expiry: Expiry::SilentDrop,
        keepalive_keeps_alive: true,
        knob: "firewall policy StatefulEngineOptions FlowTimeouts TcpIdleTimeoutSeconds (60-6000)",
        note: "\"clients or targets can use TCP keepalive packets to reset the idle timeout\"",
        source: "https://docs.aws.amazon.com/network-firewall/latest/APIReference/API_FlowTimeouts.html",
        verified: true,
    },
    Middlebox {
        name: "aws-nat-gateway",
        display_name: "AWS NAT gateway",
        layer: Layer::L4,
        default_idle_secs: Some(350),
        at_expiry: Expiry::ResetNextSender,
        keepalive_keeps_alive: true,
        knob: "none (fixed); keep tcp_keepalive_time below it",
        note: "returns RST (not FIN) to a resource that continues a timed-out connection",
        source: "https://docs.aws.amazon.com/vpc/latest/userguide/nat-gateway-troubleshooting.html",
        verified: false,
    },
    Middlebox {
        name: "azure-lb",
        display_name: "Azure Load Balancer",
        layer: Layer::L4,
        default_idle_secs: Some(240),
        at_expiry: Expiry::DropOrResetBoth,
        keepalive_keeps_alive: true,
        knob: "load-balancing/inbound NAT/outbound rule idleTimeoutInMinutes (4-100) and \
               enableTcpReset",
        note: "4 minutes by default; \"TCP reset on idle\" sends RST to client and server",
        source: "https://github.com/MicrosoftDocs/azure-docs/blob/main/articles/load-balancer/load-balancer-tcp-idle-timeout.md",
        verified: true,
    },
    Middlebox {
        name: "gcp",
        display_name: "Google Cloud VPC firewall connection tracking",
        layer: Layer::L4,
        default_idle_secs: Some(600),
        at_expiry: Expiry::SilentDrop,
        keepalive_keeps_alive: true,
        knob: "none (fixed); keep tcp_keepalive_time below it",
        note: "established TCP flows idle for 10 minutes are removed from the tracking table",
        source: "https://cloud.google.com/firewall/docs/firewalls#specifications",
        verified: false,
    },
    Middlebox {
        name: "gcp-nat",
        display_name: "Google Cloud NAT",
        layer: Layer::L4,
        default_idle_secs: Some(1200),
        at_expiry: Expiry::SilentDrop,
        keepalive_keeps_alive: true,
        knob: "gcloud compute routers nats update NAT --router=ROUTER \
               --tcp-established-idle-timeout=Ns",
        note: "transitory (SYN/FIN) 30 s, TIME_WAIT 120 s (30 s for new gateways from 2026)",
        source: "https://cloud.google.com/nat/docs/tune-nat-configuration#nat-timeouts",
        verified: true,
    },
    Middlebox {
        name: "f5",
        display_name: "F5 BIG-IP (FastL4 or TCP profile)",
        layer: Layer::L4,
        default_idle_secs: Some(300),
        at_expiry: Expiry::ResetBoth,
        keepalive_keeps_alive: true,
        knob: "idle-timeout in the FastL4 or TCP profile (tmsh modify ltm profile fastl4 NAME \
               idle-timeout N); reset-on-timeout",
        note: "resetOnTimeout is enabled by default; keepalive passes through FastL4, a full-proxy \
               TCP profile answers probes itself",
        source: "https://clouddocs.f5.com/products/extensions/f5-appsvcs-extension/latest/refguide/schemaref/L4_Profile.schema.json.html",
        verified: true,
    },
    Middlebox {
        name: "cisco-asa",
        display_name: "Cisco ASA",
        layer: Layer::L4,
        default_idle_secs: Some(3600),
        at_expiry: Expiry::DropOrResetBoth,
        keepalive_keeps_alive: true,
        knob: "timeout conn hh:mm:ss (global) or per class: set connection timeout idle hh:mm:ss \
               [reset] [dcd]",
        note: "half-closed 10 min; `reset` sends RST to both ends, `dcd` probes both ends instead \
               of expiring",
        source: "https://www.cisco.com/c/en/us/td/docs/security/asa/asa91/configuration/firewall/asa_91_firewall_config/conns_connlimits.html",
        verified: true,
    },
    Middlebox {
        name: "palo-alto",
        display_name: "Palo Alto Networks PAN-OS firewall",
        layer: Layer::L4,
        default_idle_secs: Some(3600),
        at_expiry: Expiry::SilentDrop,
        keepalive_keeps_alive: true,
        knob: "Device > Setup > Session > Session Timeouts: TCP (set deviceconfig setting \
               session timeout-tcp N); App-ID timeouts override it",
        note: "half-closed 120 s, TIME_WAIT 15 s; the 3600 s default was not seen in the fetched \
               excerpt",
        source: "https://docs.paloaltonetworks.com/pan-os/10-1/pan-os-admin/networking/session-settings-and-timeouts/session-timeouts",
        verified: false,
    },
    Middlebox {
        name: "juniper-srx",
        display_name: "Juniper SRX",
        layer: Layer::L4,
        default_idle_secs: Some(1800),
        at_expiry: Expiry::SilentDrop,
        keepalive_keeps_alive: true,
        knob: "set applications application NAME inactivity-timeout N",
        note: "TCP 30 min, UDP 1 min",
        source: "https://www.juniper.net/documentation/ (Junos Security: Understanding Session \
                 Characteristics for SRX Series)",
        verified: true,
    },
    Middlebox {
        name: "aws-alb",
        display_name: "AWS Application Load Balancer",
        layer: Layer::L7,
        default_idle_secs: Some(60),
        at_expiry: Expiry::ProxyClose,
        keepalive_keeps_alive: false,
        knob: "load balancer attribute idle_timeout.timeout_seconds (1-4000)",
        note: "targets' own keep-alive timeout must be larger, or the ALB reuses a closing \
               connection and answers 502; HTTP/2 PINGs do not reset it",
        source: "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/edit-load-balancer-attributes.html",
        verified: true,
    },
    Middlebox {
        name: "aws-clb",
        display_name: "AWS Classic Load Balancer",
        layer: Layer::L7,
        default_idle_secs: Some(60),
        at_expiry: Expiry::ProxyClose,
        keepalive_keeps_alive: false,
        knob: "ConnectionSettings IdleTimeout (aws elb modify-load-balancer-attributes \
               --load-balancer-attributes ConnectionSettings={IdleTimeout=N})",
        note: "\"TCP keep-alive probes do not prevent the load balancer from terminating the \
               connection because they do not send data in the payload\"",
        source: "https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/config-idle-timeout.html",
        verified: true,
    },
    Middlebox {
        name: "gcp-alb",
        display_name: "Google Cloud external Application Load Balancer (GFE), backend side",
        layer: Layer::L7,
        default_idle_secs: Some(600),
        at_expiry: Expiry::ProxyClose,
        keepalive_keeps_alive: false,
        knob: "fixed 600 s towards backends: set the backend's keep-alive timeout above it \
               (e.g. nginx keepalive_timeout 620s); client side httpKeepAliveTimeoutSec (610 s)",
        note: "backends must keep idle connections open longer than 600 s",
        source: "https://cloud.google.com/load-balancing/docs/https/request-distribution",
        verified: true,
    },
    Middlebox {
        name: "haproxy",
        display_name: "HAProxy",
        layer: Layer::L7,
        default_idle_secs: None,
        at_expiry: Expiry::ProxyClose,
        keepalive_keeps_alive: false,
        knob: "timeout client / timeout server / timeout http-keep-alive in haproxy.cfg \
               (also `timeout tunnel` for upgraded connections)",
        note: "no built-in default (unset = infinite, with a warning); shipped examples use 50 s",
        source: "https://github.com/haproxy/haproxy/blob/master/doc/configuration.txt",
        verified: true,
    },
    Middlebox {
        name: "nginx",
        display_name: "nginx (client-side keep-alive)",
        layer: Layer::L7,
        default_idle_secs: Some(75),
        at_expiry: Expiry::ProxyClose,
        keepalive_keeps_alive: false,
        knob: "keepalive_timeout (http/server/location); towards upstreams: keepalive_timeout \
               in upstream {} (default 60 s)",
        note: "upstream pool default 60 s (ngx_http_upstream_keepalive_module)",
        source: "https://github.com/nginx/nginx/blob/master/src/http/ngx_http_core_module.c",
        verified: true,
    },
    Middlebox {
        name: "envoy",
        display_name: "Envoy proxy (HTTP connection manager / cluster)",
        layer: Layer::L7,
        default_idle_secs: Some(3600),
        at_expiry: Expiry::ProxyClose,
        keepalive_keeps_alive: false,
        knob: "HttpConnectionManager common_http_protocol_options.idle_timeout; cluster \
               common_http_protocol_options.idle_timeout; tcp_proxy idle_timeout",
        note: "the HTTP idle timeout is independent of TCP keepalive",
        source: "https://www.envoyproxy.io/docs/envoy/latest/faq/configuration/timeouts",
        verified: true,
    },
];

/// The device called `name` (case-insensitive; `_` and `-` are the same).
pub fn by_name(name: &str) -> Option<&'static Middlebox> {
    let wanted = name.trim().to_ascii_lowercase().replace('_', "-");
    MIDDLEBOXES
        .iter()
        .find(|middlebox| middlebox.name == wanted)
}

/// Devices whose default idle timeout is within `tolerance_secs` of `idle_secs`: the
/// candidates for a connection cut after that much idle time.
pub fn matching(idle_secs: f64, tolerance_secs: f64) -> Vec<&'static Middlebox> {
    MIDDLEBOXES
        .iter()
        .filter(|middlebox| {
            middlebox
                .default_idle_secs_f64()
                .is_some_and(|timeout| (timeout - idle_secs).abs() <= tolerance_secs)
        })
        .collect()
}

/// Every name, for error messages and help.
pub fn names() -> Vec<&'static str> {
    MIDDLEBOXES.iter().map(|middlebox| middlebox.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_kebab_case() {
        let mut seen = HashSet::new();
        for middlebox in MIDDLEBOXES {
            assert!(seen.insert(middlebox.name), "duplicate {}", middlebox.name);
            assert!(
                middlebox
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{} is not kebab-case",
                middlebox.name
            );
            assert!(
                middlebox.source.contains("http"),
                "{} has no URL",
                middlebox.name
            );
            assert!(!middlebox.knob.is_empty());
        }
    }

    #[test]
    fn the_issue_presets_exist() {
        for name in [
            "lvs",
            "f5",
            "aws-nlb",
            "aws-alb",
            "aws-clb",
            "gcp",
            "azure-lb",
            "conntrack",
            "cisco-asa",
            "palo-alto",
            "juniper-srx",
            "aws-network-firewall",
            "haproxy",
            "nginx",
            "envoy",
        ] {
            assert!(by_name(name).is_some(), "{name} missing");
        }
        assert_eq!(by_name("AWS_NLB").map(|m| m.name), Some("aws-nlb"));
        assert!(by_name("nope").is_none());
    }

    #[test]
    fn l7_proxies_are_not_kept_alive_by_tcp_keepalive() {
        for middlebox in MIDDLEBOXES {
            assert_eq!(
                middlebox.keepalive_keeps_alive,
                middlebox.layer == Layer::L4,
                "{}",
                middlebox.name
            );
        }
    }

    #[test]
    fn matching_finds_devices_by_idle_time() {
        let at_350: Vec<_> = matching(352.0, 5.0).iter().map(|m| m.name).collect();
        assert!(at_350.contains(&"aws-nlb"));
        assert!(at_350.contains(&"aws-network-firewall"));
        assert!(!at_350.contains(&"lvs"));
        let at_900: Vec<_> = matching(899.0, 5.0).iter().map(|m| m.name).collect();
        assert_eq!(at_900, vec!["lvs"]);
        assert!(matching(12_345.0, 1.0).is_empty());
    }
}
