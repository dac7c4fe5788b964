//! `kaprobe explain CODE`: the catalog of finding codes. One entry per code says what it
//! means, why it happens, how kaprobe decided (the evidence fields it reads), what to do
//! (the exact knobs) and where to read more (RFC sections, kernel and vendor documents).
//!
//! Detectors name their codes through the constants in [`code`], so that `tests/explain.rs`
//! can find every code that can be emitted by scanning the sources, and check that each has
//! an entry here and each entry is emitted somewhere. `docs/findings.md` is generated from
//! this catalog (`kaprobe generate all`) and a test keeps it equal.

use crate::report::Severity;
use crate::run::Outcome;
use anyhow::{Result, bail};
use clap::Args;
use std::io::{self, Write};

/// The finding codes: stable kebab-case strings, a contract with users' scripts.
pub mod code {
    pub const KEEPALIVE_SETTINGS: &str = "keepalive-settings";
    pub const KEEPALIVE_DEAD_PEER: &str = "keepalive-dead-peer";
    pub const IDLE_WITHOUT_KEEPALIVE: &str = "idle-without-keepalive";
    pub const IDLE_BLACKHOLE: &str = "idle-blackhole";
    pub const RST_IDLE_TIMEOUT: &str = "rst-idle-timeout";
    pub const RST_MIDDLEBOX: &str = "rst-middlebox";
    pub const RST_OUT_OF_WINDOW: &str = "rst-out-of-window";
    pub const RST_KEEPALIVE_EXHAUSTED: &str = "rst-keepalive-exhausted";
    pub const RST_PEER_ABORT: &str = "rst-peer-abort";
    pub const RST_REFUSED: &str = "rst-refused";
    pub const HTTP_KEEPALIVE_DECLINED: &str = "http-keepalive-declined";
    pub const HTTP_UPSTREAM_NO_KEEPALIVE: &str = "http-upstream-no-keepalive";
    pub const HTTP_KEEPALIVE_POOL_CHURN: &str = "http-keepalive-pool-churn";
    pub const HTTP_HOP_BY_HOP_FORWARDED: &str = "http-hop-by-hop-forwarded";
    pub const HTTP_IDLE_CLOSE: &str = "http-idle-close";
    pub const HTTP_REUSE_RACE: &str = "http-reuse-race";
    pub const VRRP_FAILOVER: &str = "vrrp-failover";
    pub const VRRP_SPLIT_BRAIN: &str = "vrrp-split-brain";
    pub const VRRP_MASTER_SILENT: &str = "vrrp-master-silent";
    pub const VRRP_CONFIG_MISMATCH: &str = "vrrp-config-mismatch";
    pub const VRRP_VRID_CONFLICT: &str = "vrrp-vrid-conflict";
    pub const VRRP_PLAINTEXT_AUTH: &str = "vrrp-plaintext-auth";
    pub const VRRP_BAD_TTL: &str = "vrrp-bad-ttl";
    pub const VRRP_BAD_CHECKSUM: &str = "vrrp-bad-checksum";
    pub const VRRP_PRIORITY_ZERO: &str = "vrrp-priority-zero";
    pub const SYSCTL_KEEPALIVE_TOO_LONG: &str = "sysctl-keepalive-too-long";
    pub const SYSCTL_KEEPALIVE_NO_MARGIN: &str = "sysctl-keepalive-no-margin";
    pub const SYSCTL_KEEPALIVE_INTVL_TOO_LONG: &str = "sysctl-keepalive-intvl-too-long";
    pub const SYSCTL_DEAD_PEER_SLOW: &str = "sysctl-dead-peer-slow";
    pub const SYSCTL_CONNTRACK_SHORTER_THAN_KEEPALIVE: &str =
        "sysctl-conntrack-shorter-than-keepalive";
    pub const SYSCTL_IPVS_SHORTER_THAN_KEEPALIVE: &str = "sysctl-ipvs-shorter-than-keepalive";
    pub const SYSCTL_KEEPALIVE_CANNOT_KEEP_L7_ALIVE: &str = "sysctl-keepalive-cannot-keep-l7-alive";
    pub const SYSCTL_KEEPALIVE_LONGER_THAN_COMMON_MIDDLEBOXES: &str =
        "sysctl-keepalive-longer-than-common-middleboxes";
    pub const SYSCTL_RETRIES2_BELOW_RFC1122: &str = "sysctl-retries2-below-rfc1122";
    pub const SYSCTL_UNREADABLE: &str = "sysctl-unreadable";
}

/// One finding code, explained.
#[derive(Debug)]
pub struct Entry {
    pub code: &'static str,
    /// The severity the code is reported with ...
    pub severity: Severity,
    /// ... and when it is reported with another one ("" when never).
    pub severity_note: &'static str,
    /// The command that reports it.
    pub command: &'static str,
    pub title: &'static str,
    pub meaning: &'static str,
    pub causes: &'static str,
    /// How kaprobe decided: the rule and the `evidence` fields it fills.
    pub decision: &'static str,
    /// What to do, with the exact knobs.
    pub action: &'static str,
    pub references: &'static [&'static str],
}

const ANALYZE: &str = "kaprobe analyze";
const SYSCTL_CHECK: &str = "kaprobe sysctl check";

const RFC1122_KEEPALIVE: &str =
    "RFC 1122 §4.2.3.6 (TCP keep-alives: off by default, at least two hours, probe at SND.NXT-1)";
const IP_SYSCTL: &str = "Linux Documentation/networking/ip-sysctl.rst: tcp_keepalive_time, tcp_keepalive_intvl, tcp_keepalive_probes, tcp_retries2";
const TCP7: &str = "tcp(7) and socket(7): SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT, TCP_USER_TIMEOUT (RFC 5482)";
const MIDDLEBOXES: &str = "kaprobe sysctl check --list-middleboxes: default idle timeouts with their vendor sources (AWS NLB 350 s, Azure Load Balancer 4 min, ...)";
const DOC_KEEPALIVE: &str = "docs/keepalive.md: how kaprobe recognizes probes";
const RFC9293_RST: &str =
    "RFC 9293 §3.10.7.4 (what a genuine stack resets with) and §3.5.2 (reset generation)";
const RFC5961: &str = "RFC 5961 §3 (blind reset attacks: resets outside the window are ignored)";
const WEAVER: &str = "Weaver, Sommer, Paxson: Detecting Forged TCP Reset Packets, NDSS 2009";
const RFC9112_PERSISTENCE: &str = "RFC 9112 §9.3 (persistence) and §9.6 (tear-down)";
const RFC9110_CONNECTION: &str = "RFC 9110 §7.6.1 (Connection: hop-by-hop fields)";
const NGINX_UPSTREAM: &str = "nginx ngx_http_upstream_module: keepalive, keepalive_timeout; ngx_http_proxy_module: proxy_http_version";
const DOC_HTTP: &str = "docs/http.md: the http section and rules";
const RFC_VRRP: &str =
    "RFC 3768 (VRRPv2) and RFC 9568 (VRRPv3, obsoletes RFC 5798): §6.4 state machine";
const KEEPALIVED_CONF: &str = "keepalived.conf(5): vrrp_instance, advert_int, priority, nopreempt, preempt_delay, unicast_peer, virtual_router_id";
const DOC_VRRP: &str = "docs/vrrp.md: the vrrp section, timers and causes";
const DOC_SYSCTL: &str = "docs/sysctl.md: the rule for the recommended values";
const CONNTRACK_SYSCTL: &str = "Linux Documentation/networking/nf_conntrack-sysctl.rst: nf_conntrack_tcp_timeout_established, nf_conntrack_tcp_loose";
const IPVS: &str =
    "ipvsadm(8): --set tcp tcpfin udp; Linux net/netfilter/ipvs/ip_vs_proto_tcp.c (900 s default)";

/// Every code kaprobe can report, grouped by subject, in the order of `--list`.
pub static CATALOG: &[Entry] = &[
    Entry {
        code: code::KEEPALIVE_SETTINGS,
        severity: Severity::Info,
        severity_note: "warning when the observed keepalive time is not below a --middlebox-timeout",
        command: ANALYZE,
        title: "TCP keepalive observed, with the sender's timings",
        meaning: "An endpoint sent TCP keepalive probes on this connection. kaprobe reports, per sender, the idle time before the first probe (the keepalive time), the interval between unanswered probes, how many went unanswered, and which OS default the timings match.",
        causes: "The application enabled SO_KEEPALIVE (or a runtime does it for it: Go dials with 15 s, Java and nginx only when asked). The timings come from the socket options TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT or, when unset, the host's net.ipv4.tcp_keepalive_* sysctls.",
        decision: "A probe is an ACK with 0 or 1 byte at the sender's next sequence number minus one, at least 0.5 s after the last payload, not towards a zero window and not after the sender's FIN. Evidence: senders[] with endpoint, probes, answered, idle_before_first_probe_s, keepalive_time_s, probe_interval_s (null when every probe was answered), unanswered_probes, probe_payload_bytes, profile (linux-default, windows-default, macos-default or custom).",
        action: "Nothing, if the timings are what you configured. If a device on the path forgets idle flows, make the keepalive time shorter than its idle timeout: per socket TCP_KEEPIDLE, host-wide net.ipv4.tcp_keepalive_time, nginx `listen ... so_keepalive=IDLE:INTVL:CNT`, HAProxy `option clitcpka`/`option srvtcpka`. Pass the device's timeout with --middlebox-timeout to have it judged.",
        references: &[RFC1122_KEEPALIVE, IP_SYSCTL, TCP7, DOC_KEEPALIVE],
    },
    Entry {
        code: code::KEEPALIVE_DEAD_PEER,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "Keepalive probes went unanswered: the peer is gone",
        meaning: "One side's keepalive probes got no answer and it gave up (reset the connection), or the capture ends in silence after at least two unanswered probes. The peer crashed, lost power, or a device between them dropped the flow. The finding says how long it took to notice: keepalive time + interval × probes.",
        causes: "The peer host died or was partitioned without sending FIN or RST; a NAT, firewall or load balancer forgot the flow and silently drops it; the peer's firewall drops the probes.",
        decision: "Trailing run of unanswered probes from one sender, ending in its RST or in silence to the end of the capture. Evidence: endpoint, unanswered_probes, idle_before_first_probe_s, probe_interval_s, detection_s, gave_up (\"rst\" or \"silence\").",
        action: "To notice dead peers sooner lower the interval and count: `sysctl -w net.ipv4.tcp_keepalive_intvl=5 net.ipv4.tcp_keepalive_probes=3` or per socket TCP_KEEPINTVL/TCP_KEEPCNT; TCP_USER_TIMEOUT bounds the wait when data is unacknowledged. Then find out why the peer went away (host down, failover, middlebox expiry).",
        references: &[RFC1122_KEEPALIVE, IP_SYSCTL, TCP7, DOC_KEEPALIVE],
    },
    Entry {
        code: code::IDLE_WITHOUT_KEEPALIVE,
        severity: Severity::Warning,
        severity_note: "error when the first packet after the idle period drew a reset within 5 s or went unanswered",
        command: ANALYZE,
        title: "Idle connection without keepalive",
        meaning: "The connection sat idle at least --idle-threshold (default 60 s) with no TCP keepalive probe and no application heartbeat from either side. Load balancers, NAT gateways and firewalls forget idle flows after 60 s to a few hours; the next packet is then reset or dropped.",
        causes: "Neither application set SO_KEEPALIVE, or the keepalive time is longer than the idle period (Linux default 7200 s); connection pools keep idle connections longer than the path allows.",
        decision: "Longest silence between two packets of the connection, with no probe and no heartbeat (small messages repeating at a steady period). Evidence: idle_s, idle_from, idle_to, threshold_s, ended_in_reset, ended_in_black_hole, recommended_keepalive_time_s.",
        action: "Enable keepalive with a time below the shortest idle timeout on the path: per socket SO_KEEPALIVE + TCP_KEEPIDLE, or `sysctl -w net.ipv4.tcp_keepalive_time=N` (the default for sockets that enable SO_KEEPALIVE); nginx `listen ... so_keepalive=`, HAProxy `option clitcpka`/`srvtcpka`. Or let the pool close connections idle longer than that timeout. State the device's timeout with --middlebox-timeout for exact values.",
        references: &[RFC1122_KEEPALIVE, IP_SYSCTL, TCP7, MIDDLEBOXES],
    },
    Entry {
        code: code::IDLE_BLACKHOLE,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "Data after an idle period was retransmitted into a black hole",
        meaning: "After a long silence one side sent data and kept retransmitting it with no ACK and no RST. A device on the path had forgotten the connection and silently drops its packets; the sender only finds out when its retransmission timer gives up (tcp_retries2, about 15 minutes on Linux).",
        causes: "A stateful device that drops packets of expired flows: Linux conntrack with a DROP rule for INVALID packets, Azure Load Balancer by default, AWS Network Firewall, most firewalls. The idle period exceeded its timeout.",
        decision: "The connection's longest idle period is at least --idle-threshold and what was sent after it was only retransmitted, never answered. Evidence: idle_s, sender, retransmissions, unanswered_for_s, matching_middleboxes (devices whose default idle timeout matches the idle period and that drop at expiry).",
        action: "Keep the keepalive time below the device's idle timeout (TCP_KEEPIDLE or net.ipv4.tcp_keepalive_time), or raise the device's timeout. To fail fast instead of retransmitting for 15 minutes, set TCP_USER_TIMEOUT on the socket or lower net.ipv4.tcp_retries2 (not below 8).",
        references: &[IP_SYSCTL, TCP7, CONNTRACK_SYSCTL, MIDDLEBOXES],
    },
    Entry {
        code: code::RST_IDLE_TIMEOUT,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "Reset after an idle period: an idle timeout on the path",
        meaning: "The first segment after a long idle period was answered by a reset. A device that holds connection state (load balancer, NAT, firewall, IPVS) had expired the connection, and either it or the server (which saw a packet for a connection it no longer knows, or a new backend) answered with RST.",
        causes: "The idle period exceeded a device's idle timeout and nothing (keepalive probes, heartbeats) refreshed the device's state. Typical defaults: AWS NLB 350 s, Azure Load Balancer 4 min (with TCP reset enabled), IPVS 900 s, F5 300 s.",
        decision: "A RST within 5 s after an idle period at least --idle-threshold long (or 90 % of the smallest --middlebox-timeout). Evidence: idle_s, matching_middleboxes (name, display_name, default_idle_s, knob), stated_middlebox_timeout_s, ttl, seq, ip_id, and ttl_mismatch/ip_id_break when the reset did not come from the claimed sender.",
        action: "Keep the connection's keepalive time below the device's idle timeout so that probes refresh its state: per socket SO_KEEPALIVE + TCP_KEEPIDLE, or net.ipv4.tcp_keepalive_time; or raise the device's idle timeout (the knob of the matching device is in the advice).",
        references: &[RFC9293_RST, IP_SYSCTL, MIDDLEBOXES, WEAVER],
    },
    Entry {
        code: code::RST_MIDDLEBOX,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "Reset injected by a device in the path",
        meaning: "A RST claims to come from one endpoint but that endpoint did not send it: a firewall, IPS, load balancer or NAT between the capture point and the claimed sender forged it. With two captures, the reset appears at one vantage point and is absent at the other.",
        causes: "A firewall or IPS rule that rejects with tcp-reset, a load balancer or NAT expiring state with reset-on-timeout, protocol inspection killing the flow, or censorship equipment.",
        decision: "Compared with the claimed sender's earlier packets: a TTL it never used (a different hop count), a break in its IP ID sequence, an answer faster than the path's round trip allows; or, with several inputs, the reset seen at one input and never sent at the other. Evidence: ttl, seq, ip_id, ttl_mismatch (rst_ttl, sender_ttl_range, sender_hops, rst_hops), ip_id_break, too_fast (delay_s, path_rtt_s), race, seen_at_input, absent_at_input, other_connection.",
        action: "Find the device whose distance matches the reset's hop count (rst_hops) between the capture point and the claimed sender; its logs name the rule or timeout. Capturing on both sides proves where it is added.",
        references: &[WEAVER, RFC9293_RST, RFC5961],
    },
    Entry {
        code: code::RST_OUT_OF_WINDOW,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "Reset with a sequence number far outside the window",
        meaning: "A RST carries a sequence number far from the sender's next sequence number, beyond the receiver's window. A genuine stack resets at its next sequence number, so this is a blind or spoofed reset, a late reset from an injector, or a broken stack.",
        causes: "Blind reset attacks, injectors that guess sequence numbers, a NAT that rewrote sequence numbers inconsistently, or a reset belonging to an older connection on the same ports.",
        decision: "|seq − sender's next seq| larger than the peer's window (at least 65535). Evidence: seq_distance, receive_window, ttl, seq, ip_id.",
        action: "Receivers following RFC 5961 ignore such resets (Linux does): check whether the connection actually ended. Capture on both sides to see where the reset comes from.",
        references: &[RFC5961, RFC9293_RST, WEAVER],
    },
    Entry {
        code: code::RST_KEEPALIVE_EXHAUSTED,
        severity: Severity::Info,
        severity_note: "",
        command: ANALYZE,
        title: "Reset after unanswered keepalive probes",
        meaning: "The sender reset the connection after its keepalive probes went unanswered: it decided the peer was unreachable. This is keepalive working as designed; keepalive-dead-peer on the same connection says how long it took.",
        causes: "The peer died or became unreachable, or a device on the path drops the probes.",
        decision: "The RST's sender had sent keepalive probes and the last one was still unanswered. Evidence: unanswered_keepalive_probes, ttl, seq, ip_id.",
        action: "Find out why the peer became unreachable. To detect it sooner, lower net.ipv4.tcp_keepalive_intvl and tcp_keepalive_probes (or TCP_KEEPINTVL/TCP_KEEPCNT).",
        references: &[RFC1122_KEEPALIVE, IP_SYSCTL, TCP7],
    },
    Entry {
        code: code::RST_PEER_ABORT,
        severity: Severity::Info,
        severity_note: "",
        command: ANALYZE,
        title: "The peer itself aborted the connection",
        meaning: "An endpoint reset an established connection and the reset is genuine: its TTL and IP ID match the endpoint's earlier packets. This is an application decision or a process exit, not a network problem.",
        causes: "The application closed the socket with unread data, used SO_LINGER with a zero timeout, crashed or was restarted; a server's request timeout; a proxy giving up on a client.",
        decision: "No sign of injection (TTL within the sender's range, IP ID continuous, not faster than the round trip), within the window, no idle period or unanswered probe before it. Evidence: ttl, seq, ip_id.",
        action: "Look at the application on that host at that time (logs, restarts, timeouts); a reset from the real peer is not a network problem.",
        references: &[RFC9293_RST, "socket(7): SO_LINGER"],
    },
    Entry {
        code: code::RST_REFUSED,
        severity: Severity::Info,
        severity_note: "",
        command: ANALYZE,
        title: "Connection refused",
        meaning: "The SYN was answered with a reset: nothing listens on that port, or a firewall rejects the connection with a TCP reset.",
        causes: "The service is down or listens on another address or port; an iptables/nftables REJECT --reject-with tcp-reset rule; a load balancer without healthy backends.",
        decision: "A RST answering the connection's SYN. Evidence: ttl, seq, ip_id (compare the TTL with the server's other connections to tell a firewall from the host).",
        action: "Check that the service listens (`ss -ltn`) on that address and port and that no firewall REJECTs it.",
        references: &[RFC9293_RST],
    },
    Entry {
        code: code::HTTP_KEEPALIVE_DECLINED,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "The server declined HTTP keep-alive",
        meaning: "Clients offered persistent connections and the server's responses ended them after the first exchange: every request pays a new TCP (and TLS) handshake.",
        causes: "`Connection: close` from the server: nginx `keepalive_timeout 0` or keepalive_requests reached, Apache `KeepAlive Off`, HAProxy `option httpclose`, an HTTP/1.0 response without `Connection: keep-alive`.",
        decision: "Per hop: the first exchange of a connection where the request allowed persistence and the response did not (by RFC 9112 §9.3: version and Connection tokens). Evidence: declined_connections, rules (which header or rule decided, with counts), server_software, examples.",
        action: "Enable keep-alive on the server: nginx `keepalive_timeout 75s;` (not 0), Apache `KeepAlive On`, HAProxy without `option httpclose`/`http-server-close` on that frontend.",
        references: &[RFC9112_PERSISTENCE, RFC9110_CONNECTION, DOC_HTTP],
    },
    Entry {
        code: code::HTTP_UPSTREAM_NO_KEEPALIVE,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "A proxy's upstream hop does not use keep-alive",
        meaning: "Clients keep their connections to the proxy open, but the proxy opens a new connection to the upstream for every request (HTTP/1.0 or `Connection: close` upstream). The upstream pays a handshake per request and the proxy can run out of ephemeral ports (TIME_WAIT).",
        causes: "nginx before 1.29.7 speaks HTTP/1.0 to upstreams and sends `Connection: close` unless `keepalive` is set in the upstream block with `proxy_http_version 1.1` and an empty Connection header; other proxies have equivalent switches.",
        decision: "A hop whose requests look forwarded (matched to requests of a front hop, or proxy headers) does not offer persistence while its front hop does. Evidence: front_hop, connections, requests, request_versions, rules, proxy_software, peak_concurrent_connections.",
        action: "nginx: in the upstream block `keepalive N;` (N = peak concurrent upstream connections seen), and in the location `proxy_http_version 1.1;` and `proxy_set_header Connection \"\";`. HAProxy: `http-reuse safe` (default) without `option httpclose`. Envoy: upstream HTTP/1.1 connection pooling is on by default; check `max_requests_per_connection`.",
        references: &[NGINX_UPSTREAM, RFC9112_PERSISTENCE, DOC_HTTP],
    },
    Entry {
        code: code::HTTP_KEEPALIVE_POOL_CHURN,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "A client closes keep-alive connections and opens new ones",
        meaning: "Connections that could be reused are closed by the client right after a response and replaced by new ones a moment later: the client's connection pool is too small for its concurrency, so idle connections are closed and reopened.",
        causes: "nginx upstream `keepalive N` smaller than the concurrent requests; an HTTP client created per request; MaxIdleConnsPerHost (Go default 2) or similar pool limits.",
        decision: "Per client address and server port: at least 3 keep-alive connections closed by the client less than 1 s after a response and replaced by a new connection within 5 s, at least a third of the connections. Evidence: servers, connections, requests, connections_per_request, closed_right_after_response, peak_concurrent_connections.",
        action: "Raise the pool size to the peak concurrency seen: nginx `keepalive N;` in the upstream block, Go Transport.MaxIdleConnsPerHost, a single shared HTTP client in the application.",
        references: &[NGINX_UPSTREAM, RFC9112_PERSISTENCE, DOC_HTTP],
    },
    Entry {
        code: code::HTTP_HOP_BY_HOP_FORWARDED,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "A proxy forwarded hop-by-hop header fields",
        meaning: "A request forwarded by a proxy carries fields that belong to the previous hop only: those named in the front request's Connection header, Keep-Alive, or Proxy-Connection. The next hop may act on a persistence decision that was not its own.",
        causes: "A proxy that copies all headers (a hand-written or misconfigured proxy, `proxy_set_header Connection $http_connection` in nginx outside WebSocket locations).",
        decision: "A request matched to a front request carries a field the front request named in Connection, the same custom Connection value, the same Keep-Alive value, or Proxy-Connection (RFC 9110 §7.6.1). Evidence: front_hop, forwarded_requests, example.",
        action: "Remove hop-by-hop fields at the proxy: nginx `proxy_set_header Connection \"\";`; HAProxy and Envoy remove them by default, check custom header rules.",
        references: &[RFC9110_CONNECTION, RFC9112_PERSISTENCE, DOC_HTTP],
    },
    Entry {
        code: code::HTTP_IDLE_CLOSE,
        severity: Severity::Info,
        severity_note: "",
        command: ANALYZE,
        title: "Keep-alive connections closed after an idle period",
        meaning: "Persistent connections were closed after sitting idle since the last response: this is the closing side's keep-alive idle timeout, measured. Whoever reuses connections must give up on idle ones before the other side closes them.",
        causes: "The server's keep-alive timeout (nginx keepalive_timeout 75 s, Apache KeepAliveTimeout 5 s, Node.js keepAliveTimeout 5 s) or the client pool's idle timeout.",
        decision: "Keep-alive connections closed at least 1 s after the last response, per closing side. Evidence: closed_by, connections, idle_min_s, idle_max_s.",
        action: "When the server closes: make every client's and proxy's pool idle timeout shorter than idle_min_s (nginx upstream keepalive_timeout, Go IdleConnTimeout, HAProxy pool-purge-delay). When the client closes: that is the safe order, nothing to do.",
        references: &[RFC9112_PERSISTENCE, NGINX_UPSTREAM, DOC_HTTP],
    },
    Entry {
        code: code::HTTP_REUSE_RACE,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "A request was sent on a connection the server was closing",
        meaning: "A client reused a keep-alive connection at the moment the server closed it: the request crossed the server's FIN or RST and got no response. Clients and proxies report this as a 502, \"connection reset by peer\" or \"EOF\".",
        causes: "The client's pool idle timeout is as long as or longer than the server's keep-alive timeout, so the client picks a connection the server is about to close.",
        decision: "A request after the first was sent after, or within one round trip before, the server's FIN or RST and got no response; not claimed when the streams had gaps or unreadable bytes. Evidence: request_index, server_close_kind, request_after_close_ms, answered_by_rst, idle_before_request_s.",
        action: "Set the client's or proxy's idle timeout below the server's keep-alive timeout (e.g. server 75 s, client 60 s), and retry idempotent requests that fail on a reused connection.",
        references: &[
            RFC9112_PERSISTENCE,
            "RFC 9110 §9.2.2 (idempotent methods may be retried)",
            DOC_HTTP,
        ],
    },
    Entry {
        code: code::VRRP_FAILOVER,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "VRRP mastership moved to another router",
        meaning: "Another router became master of the virtual router group: the virtual addresses moved. The finding says who took over from whom, why, how long the group was without a master compared with the RFC timer, and when the first gratuitous ARP or neighbour advertisement followed.",
        causes: "master-silent: the master stopped advertising (crash, keepalived stopped, network cut) and a backup took over after Master_Down_Interval; master-resigned: priority-0 advert (keepalived stopped cleanly); preempted: a higher priority came back; priority-lowered: a track_script or track_interface lowered the master's priority; contested: both advertised and the old one yielded.",
        decision: "Only the master advertises, so a change of the advertising router is a change of master. Evidence: from, to, cause, old_priority, new_priority, old_last_advert, new_first_advert, gap_s, no_master_s, expected_s (Master_Down_Interval = 3 × advert_int + skew), within_expected, first_claim.",
        action: "For a silent master: find why it stopped (`journalctl -u keepalived` on it); lower advert_int to shorten the 3 × advert_int + skew wait. For a preemption that hurts: `nopreempt` (with `state BACKUP` on all) or `preempt_delay`.",
        references: &[RFC_VRRP, KEEPALIVED_CONF, DOC_VRRP],
    },
    Entry {
        code: code::VRRP_SPLIT_BRAIN,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "Two VRRP masters at the same time",
        meaning: "Two routers advertised as master for the same group at the same time for longer than one advert interval: both hold the virtual address, and traffic goes to whichever answered ARP last.",
        causes: "The router that should have yielded does not receive the other's adverts: protocol 112 blocked by a firewall, multicast not forwarded (cloud networks, some switches), unicast_peer lists incomplete, or a VLAN mismatch.",
        decision: "Overlap of two master periods longer than one advert interval; the router that should yield is the lower priority (lower address on a tie). Evidence: routers, priorities, from, to, overlap_s, should_yield, claim_macs.",
        action: "Allow VRRP on both routers (`iptables -A INPUT -p vrrp -j ACCEPT`, nftables `ip protocol vrrp accept`); where multicast is not forwarded use `unicast_peer` with every other router listed.",
        references: &[RFC_VRRP, KEEPALIVED_CONF, DOC_VRRP],
    },
    Entry {
        code: code::VRRP_MASTER_SILENT,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "No VRRP master for longer than the backups should wait",
        meaning: "Nobody advertised for longer than a backup should have waited before taking over (Master_Down_Interval) plus one interval: the virtual address had no owner.",
        causes: "The backups are not running keepalived, are in FAULT state (a tracked interface or script failing), use another virtual_router_id, or do not see the master's adverts stop because of a filter.",
        decision: "Silence between two master periods, or from the last advert to the end of the capture when the capture continues past it. Evidence: last_master, last_advert, silent_s, expected_master_down_s, next_master.",
        action: "On the backups: check keepalived runs and is in BACKUP, not FAULT (`journalctl -u keepalived`), that virtual_router_id matches, and that protocol 112 is allowed.",
        references: &[RFC_VRRP, KEEPALIVED_CONF, DOC_VRRP],
    },
    Entry {
        code: code::VRRP_CONFIG_MISMATCH,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "Routers of one VRRP group are configured differently",
        meaning: "Routers of the same group disagree on advert_int, the virtual addresses, the authentication type or password, or the VRRP version. keepalived drops adverts that do not match its own configuration, so each side may become master.",
        causes: "A configuration change applied to one router only; templates that differ per host; mixing vrrp_version 2 and 3.",
        decision: "Compares the adverts of each router of a group: advert interval, virtual address sets (overlapping but different), auth type, auth data (compared, never shown), and the same VRID and family in two VRRP versions. Evidence: the differing values per router, or versions.",
        action: "Make the vrrp_instance blocks identical except `priority` and `state`, and set the same `vrrp_version` (global_defs) or `version` everywhere.",
        references: &[RFC_VRRP, KEEPALIVED_CONF, DOC_VRRP],
    },
    Entry {
        code: code::VRRP_VRID_CONFLICT,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "Two VRRP clusters share one virtual router id",
        meaning: "Routers advertising the same VRID on one segment protect disjoint sets of virtual addresses: these are two clusters using the same id. They see each other's adverts (keepalived logs mismatches) and may fight over mastership; with use_vmac they also share the virtual MAC.",
        causes: "virtual_router_id chosen by copy-paste, or two teams' clusters on one VLAN.",
        decision: "Same VRID, version and family on one segment, disjoint virtual address sets. Evidence: virtual_ips per router.",
        action: "Give one cluster another `virtual_router_id` (the advice suggests a free one), or use `unicast_peer` so the clusters do not hear each other.",
        references: &[RFC_VRRP, KEEPALIVED_CONF, DOC_VRRP],
    },
    Entry {
        code: code::VRRP_PLAINTEXT_AUTH,
        severity: Severity::Warning,
        severity_note: "",
        command: ANALYZE,
        title: "VRRP password sent in clear text",
        meaning: "VRRPv2 adverts use simple text authentication (keepalived `auth_type PASS`): the password is in every advert, readable by anyone on the segment, and protects against nothing but misconfiguration.",
        causes: "An authentication block in vrrp_instance with auth_type PASS.",
        decision: "Adverts with auth type 1. Evidence: auth_data per router (\"<redacted>\" unless --show-secrets), visible_on_wire.",
        action: "Remove the `authentication` block (RFC 3768 removed authentication and VRRPv3 has none) on all routers at once, or use `auth_type AH` everywhere.",
        references: &[
            "RFC 3768 §5.3.6 and §10 (authentication removed)",
            KEEPALIVED_CONF,
            DOC_VRRP,
        ],
    },
    Entry {
        code: code::VRRP_BAD_TTL,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "VRRP adverts with a TTL other than 255",
        meaning: "Multicast adverts arrived with a TTL (hop limit) other than 255. Receivers must drop them, so the backups do not see the master and take over.",
        causes: "The adverts were routed (crossed a router), or something on the path rewrites the TTL (some virtual switches, tunnels).",
        decision: "Multicast adverts with TTL ≠ 255; unicast adverts are not judged (keepalived skips the check for unicast_peer). Evidence: router, ttls, adverts.",
        action: "Keep the routers on one layer-2 segment, or use `unicast_peer`; find the device that decrements or rewrites the TTL.",
        references: &[
            "RFC 3768 §7.1 and RFC 9568 §7.1 (TTL must be 255)",
            KEEPALIVED_CONF,
            DOC_VRRP,
        ],
    },
    Entry {
        code: code::VRRP_BAD_CHECKSUM,
        severity: Severity::Error,
        severity_note: "",
        command: ANALYZE,
        title: "VRRP adverts with a wrong checksum",
        meaning: "Adverts carry a checksum that does not match their content; receivers drop them.",
        causes: "Corruption on the path, a buggy implementation, or (when capturing on the sender) checksum offload: the NIC fills in the checksum after the capture point.",
        decision: "Recomputes the checksum (v2 over the message; v3 with the IP pseudo-header, also accepting the v2 form that keepalived's v3_checksum_as_v2 sends). Evidence: router, bad_adverts, checksum, expected.",
        action: "When capturing on the sender, disable offload for the test (`ethtool -K IFACE tx off`) or capture on a receiver; otherwise find the corrupting device, and set `v3_checksum_as_v2` consistently on all routers.",
        references: &[RFC_VRRP, KEEPALIVED_CONF, DOC_VRRP],
    },
    Entry {
        code: code::VRRP_PRIORITY_ZERO,
        severity: Severity::Info,
        severity_note: "",
        command: ANALYZE,
        title: "A VRRP master resigned (priority 0)",
        meaning: "The master sent an advert with priority 0: it is giving up mastership, and the backups take over after Skew_Time instead of the full Master_Down_Interval.",
        causes: "keepalived was stopped or restarted, or entered FAULT state.",
        decision: "An advert with priority 0 from the current master. Evidence: router, ts.",
        action: "Expected during maintenance; otherwise check why keepalived stopped on that router (`journalctl -u keepalived`).",
        references: &[
            "RFC 3768 §6.4.3 and RFC 9568 §6.4.3 (shutdown sends priority 0)",
            KEEPALIVED_CONF,
            DOC_VRRP,
        ],
    },
    Entry {
        code: code::SYSCTL_KEEPALIVE_TOO_LONG,
        severity: Severity::Error,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "Keepalive time longer than a device's idle timeout",
        meaning: "net.ipv4.tcp_keepalive_time is at least the idle timeout of a layer-4 device you stated: idle connections are cut before the first keepalive probe, even on sockets with SO_KEEPALIVE.",
        causes: "The Linux default of 7200 s is longer than every common load balancer, NAT and firewall timeout.",
        decision: "tcp_keepalive_time ≥ the stated device's idle timeout (one finding per device). Evidence: the values read and the device.",
        action: "Apply the advice block: `sysctl -w net.ipv4.tcp_keepalive_time=N` with N = min(T/2, T − 30 s) for the smallest timeout T, and persist it in /etc/sysctl.d/90-keepalive.conf. Applications that set TCP_KEEPIDLE need the same change.",
        references: &[IP_SYSCTL, TCP7, MIDDLEBOXES, DOC_SYSCTL],
    },
    Entry {
        code: code::SYSCTL_KEEPALIVE_NO_MARGIN,
        severity: Severity::Warning,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "Keepalive time just below a device's idle timeout",
        meaning: "tcp_keepalive_time is below the smallest idle timeout on the path but with little margin: a delayed or lost probe lets the device expire the connection.",
        causes: "The keepalive time was set to the device's timeout minus a few seconds.",
        decision: "time < T but time > margin(T) = min(T × 0.5, T − 30 s). Evidence: the values read and the smallest timeout.",
        action: "Set net.ipv4.tcp_keepalive_time to margin(T) as in the advice block.",
        references: &[IP_SYSCTL, DOC_SYSCTL],
    },
    Entry {
        code: code::SYSCTL_KEEPALIVE_INTVL_TOO_LONG,
        severity: Severity::Warning,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "A lost keepalive probe lets the device forget the flow",
        meaning: "The first probe comes in time, but if it is lost the next one comes tcp_keepalive_intvl later, after the device has forgotten the connection.",
        causes: "The default interval of 75 s with a keepalive time close to the device's timeout.",
        decision: "time < T ≤ time + intvl. Evidence: the values read and the device.",
        action: "Set net.ipv4.tcp_keepalive_intvl ≤ (T − time) / 2 as in the advice block (TCP_KEEPINTVL per socket).",
        references: &[IP_SYSCTL, TCP7, DOC_SYSCTL],
    },
    Entry {
        code: code::SYSCTL_DEAD_PEER_SLOW,
        severity: Severity::Warning,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "Dead idle peers are noticed late",
        meaning: "An idle connection to a peer that died silently is noticed only after time + intvl × probes, longer than --dead-peer-target (default 15 min). With Linux defaults that is 2 h 11 min.",
        causes: "Default keepalive settings (7200 s, 75 s, 9 probes).",
        decision: "tcp_keepalive_time + tcp_keepalive_intvl × tcp_keepalive_probes > --dead-peer-target. Evidence: the three values and the target.",
        action: "Apply the advice block: probes ≤ 5, intvl ≤ 30 s, time ≤ target − intvl × probes; or per socket TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT, and TCP_USER_TIMEOUT for connections with data in flight.",
        references: &[IP_SYSCTL, TCP7, DOC_SYSCTL],
    },
    Entry {
        code: code::SYSCTL_CONNTRACK_SHORTER_THAN_KEEPALIVE,
        severity: Severity::Error,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "This host's conntrack forgets connections before keepalive refreshes them",
        meaning: "nf_conntrack_tcp_timeout_established is at most the keepalive time: conntrack deletes idle connections before the first probe. NAT mappings and stateful rules are lost; with nf_conntrack_tcp_loose=0 the next packets are INVALID and usually dropped.",
        causes: "A lowered conntrack timeout (to save table space) without a matching keepalive time.",
        decision: "nf_conntrack_tcp_timeout_established ≤ tcp_keepalive_time, when the conntrack module is loaded. Evidence: both values, nf_conntrack_tcp_loose, nf_conntrack_count.",
        action: "Raise net.netfilter.nf_conntrack_tcp_timeout_established above the keepalive time, or lower net.ipv4.tcp_keepalive_time below it (the advice block has both).",
        references: &[CONNTRACK_SYSCTL, IP_SYSCTL, DOC_SYSCTL],
    },
    Entry {
        code: code::SYSCTL_IPVS_SHORTER_THAN_KEEPALIVE,
        severity: Severity::Error,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "This host's IPVS forgets connections before keepalive refreshes them",
        meaning: "The IPVS tcp timeout is at most the keepalive time: IPVS forgets idle connections before the first probe; the next packet is dropped or sent to another real server, which answers RST.",
        causes: "IPVS's 900 s default (or kube-proxy's --ipvs-tcp-timeout, keepalived's lvs_timeouts) with the 7200 s keepalive default.",
        decision: "ipvs tcp timeout (from `ipvsadm -Ln --timeout`, a sosreport, or the kernel default) ≤ tcp_keepalive_time. Evidence: both values and where the IPVS value came from.",
        action: "Lower net.ipv4.tcp_keepalive_time below the IPVS timeout, or raise it: `ipvsadm --set TCP TCPFIN UDP`, keepalived `lvs_timeouts tcp N`, kube-proxy `--ipvs-tcp-timeout`.",
        references: &[IPVS, IP_SYSCTL, DOC_SYSCTL],
    },
    Entry {
        code: code::SYSCTL_KEEPALIVE_CANNOT_KEEP_L7_ALIVE,
        severity: Severity::Info,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "TCP keepalive cannot keep an L7 proxy's connection alive",
        meaning: "The stated device is a layer-7 proxy (AWS ALB/CLB, GCP ALB, nginx, HAProxy, Envoy): it terminates TCP, its kernel answers keepalive probes without resetting the proxy's idle timer, so it closes idle connections whatever the keepalive settings.",
        causes: "Only application data (or HTTP/2 PING where supported) resets an L7 proxy's idle timer.",
        decision: "The stated middlebox is marked L7 in the table. Evidence: the device and its idle timeout.",
        action: "Make the application close idle connections before the proxy's timeout, or send application-level heartbeats; raise the proxy's idle timeout (the knob is in the table).",
        references: &[MIDDLEBOXES, DOC_SYSCTL],
    },
    Entry {
        code: code::SYSCTL_KEEPALIVE_LONGER_THAN_COMMON_MIDDLEBOXES,
        severity: Severity::Info,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "Keepalive time longer than common middlebox timeouts",
        meaning: "No device on the path was stated, and tcp_keepalive_time is at least the default idle timeout of some common layer-4 devices: behind one of them, idle connections would be cut.",
        causes: "The Linux default of 7200 s.",
        decision: "No --middlebox or --middlebox-timeout, and the keepalive time ≥ some default in the table. Evidence: the keepalive time and the devices it exceeds.",
        action: "State the devices on the path (--middlebox NAME, --middlebox-timeout DURATION) to get exact advice.",
        references: &[MIDDLEBOXES, DOC_SYSCTL],
    },
    Entry {
        code: code::SYSCTL_RETRIES2_BELOW_RFC1122,
        severity: Severity::Warning,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "tcp_retries2 gives up on connections too early",
        meaning: "net.ipv4.tcp_retries2 is below 8: connections with unacknowledged data are abandoned after less than the 100 s RFC 1122 asks for, so short network hiccups break connections.",
        causes: "tcp_retries2 lowered to detect dead peers faster (TCP_USER_TIMEOUT is the per-socket way to do that).",
        decision: "tcp_retries2 < 8. Evidence: the value and the time it corresponds to.",
        action: "Set net.ipv4.tcp_retries2 to at least 8 (default 15) and use TCP_USER_TIMEOUT on the sockets that need to fail fast.",
        references: &["RFC 1122 §4.2.3.5 (R2 at least 100 s)", IP_SYSCTL, TCP7],
    },
    Entry {
        code: code::SYSCTL_UNREADABLE,
        severity: Severity::Warning,
        severity_note: "",
        command: SYSCTL_CHECK,
        title: "A keepalive sysctl could not be read",
        meaning: "A keepalive sysctl is missing, unreadable, or not a number, so the checks that need it were skipped.",
        causes: "An incomplete --root tree (sosreport without the file), a container without /proc/sys/net, or restricted permissions.",
        decision: "Reading /proc/sys/net/ipv4/tcp_keepalive_* (under --root when given) failed. Evidence: the name and the problem.",
        action: "Run as a user who can read /proc/sys, or add the missing files to the --root tree.",
        references: &[IP_SYSCTL, DOC_SYSCTL],
    },
];

/// The entry of `code`, if it is one.
pub fn lookup(code: &str) -> Option<&'static Entry> {
    CATALOG.iter().find(|entry| entry.code == code)
}

/// Up to three codes closest to an unknown `text`: those containing it, then by edit distance.
pub fn closest(text: &str) -> Vec<&'static str> {
    let text = text.trim().to_ascii_lowercase();
    let mut scored: Vec<(usize, &'static str)> = CATALOG
        .iter()
        .map(|entry| {
            let distance = if !text.is_empty() && entry.code.contains(text.as_str()) {
                0
            } else {
                edit_distance(&text, entry.code)
            };
            (distance, entry.code)
        })
        .filter(|(distance, code)| *distance <= (code.len() / 2).max(3))
        .collect();
    scored.sort();
    scored.into_iter().take(3).map(|(_, code)| code).collect()
}

/// Levenshtein distance, in O(a × b) time and O(b) memory; codes are short.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The finding code to explain, as in the table's `code` column or `.findings[].code`.
    #[arg(value_name = "CODE", required_unless_present = "list")]
    pub code: Option<String>,
    /// List every finding code with its severity and title.
    #[arg(long, conflicts_with = "code")]
    pub list: bool,
}

pub const EXAMPLES: &str = "Examples:
  kaprobe explain rst-idle-timeout
  kaprobe explain --list
  kaprobe analyze capture.pcap --format json | jq -r '.findings[].code' | sort -u | xargs -n1 kaprobe explain";

pub fn run(args: ExplainArgs) -> Result<Outcome> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    if args.list {
        write_list(&mut out)?;
    } else {
        let code = args.code.unwrap_or_default();
        let Some(entry) = lookup(code.trim()) else {
            let suggestions = closest(&code);
            if suggestions.is_empty() {
                bail!("unknown finding code '{code}'; `kaprobe explain --list` shows them all");
            }
            bail!(
                "unknown finding code '{code}'; did you mean {}? (`kaprobe explain --list` shows them all)",
                suggestions.join(", ")
            );
        };
        write_entry(entry, &mut out)?;
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

/// `--list`: one line per code.
pub fn write_list(out: &mut dyn Write) -> io::Result<()> {
    let width = CATALOG.iter().map(|e| e.code.len()).max().unwrap_or(0);
    for entry in CATALOG {
        writeln!(
            out,
            "{:<width$}  {:<7}  {}",
            entry.code,
            entry.severity.name(),
            entry.title
        )?;
    }
    Ok(())
}

/// The severity, with the condition for another one.
pub fn severity_text(entry: &Entry) -> String {
    if entry.severity_note.is_empty() {
        entry.severity.name().to_string()
    } else {
        format!("{} ({})", entry.severity.name(), entry.severity_note)
    }
}

/// `kaprobe explain CODE`: paragraphs wrapped for an 80-column terminal.
pub fn write_entry(entry: &Entry, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "{}: {}", entry.code, entry.title)?;
    writeln!(out)?;
    writeln!(out, "Severity: {}", severity_text(entry))?;
    writeln!(out, "Reported by: {}", entry.command)?;
    for (heading, text) in sections(entry) {
        writeln!(out)?;
        writeln!(out, "{heading}")?;
        for line in wrap(text, 78) {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out)?;
    writeln!(out, "Read more")?;
    for reference in entry.references {
        let mut lines = wrap(reference, 76).into_iter();
        if let Some(first) = lines.next() {
            writeln!(out, "  - {first}")?;
        }
        for line in lines {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(())
}

fn sections(entry: &Entry) -> [(&'static str, &'static str); 4] {
    [
        ("What it means", entry.meaning),
        ("Why it happens", entry.causes),
        ("How kaprobe decided", entry.decision),
        ("What to do", entry.action),
    ]
}

/// Greedy word wrap; a word longer than `width` gets a line of its own.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// `docs/findings.md`: the whole catalog as Markdown.
pub fn write_markdown(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, "# Finding codes")?;
    writeln!(out)?;
    writeln!(
        out,
        "Generated from `src/explain.rs` by `cargo run -- generate all`; do not edit by hand \
(`tests/generated.rs` fails when it differs). `kaprobe explain CODE` prints the same text."
    )?;
    writeln!(out)?;
    writeln!(out, "| code | severity | reported by | title |")?;
    writeln!(out, "|---|---|---|---|")?;
    for entry in CATALOG {
        writeln!(
            out,
            "| [`{}`](#{}) | {} | `{}` | {} |",
            entry.code,
            entry.code,
            entry.severity.name(),
            entry.command,
            entry.title
        )?;
    }
    for entry in CATALOG {
        writeln!(out)?;
        writeln!(out, "## {}", entry.code)?;
        writeln!(out)?;
        writeln!(out, "**{}**", entry.title)?;
        writeln!(out)?;
        writeln!(
            out,
            "Severity: {}. Reported by `{}`.",
            severity_text(entry),
            entry.command
        )?;
        for (heading, text) in sections(entry) {
            writeln!(out)?;
            writeln!(out, "### {heading}")?;
            writeln!(out)?;
            writeln!(out, "{text}")?;
        }
        writeln!(out)?;
        writeln!(out, "### Read more")?;
        writeln!(out)?;
        for reference in entry.references {
            writeln!(out, "- {reference}")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_kebab_case_and_entries_complete() {
        let mut seen = std::collections::HashSet::new();
        for entry in CATALOG {
            assert!(seen.insert(entry.code), "{} twice", entry.code);
            assert!(
                entry
                    .code
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{} is not kebab-case",
                entry.code
            );
            for (heading, text) in sections(entry) {
                assert!(!text.trim().is_empty(), "{}: {heading} empty", entry.code);
            }
            assert!(
                !entry.references.is_empty(),
                "{}: no references",
                entry.code
            );
        }
    }

    #[test]
    fn closest_suggests_near_codes() {
        assert_eq!(closest("rst-idle").first(), Some(&"rst-idle-timeout"));
        assert_eq!(
            closest("keepalive-dead-per").first(),
            Some(&"keepalive-dead-peer")
        );
        assert!(closest("zzzzzzzzzzzzzzzzzzzzzzzzzz").is_empty());
    }

    #[test]
    fn wrap_keeps_words_and_width() {
        let lines = wrap("aaa bbb ccc dddddddddd", 7);
        assert_eq!(lines, vec!["aaa bbb", "ccc", "dddddddddd"]);
    }
}
