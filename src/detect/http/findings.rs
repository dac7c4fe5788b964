//! The HTTP keep-alive findings: their codes, messages and advice (docs/http.md explains
//! each). Advice names the knob with values from the capture; knowledge of server defaults
//! lives in [`defaults`] with its sources.

use super::hops::{Hop, IdleCloses};
use crate::flow::ConnectionId;
use crate::report::decimal::{fixed, push_fixed};
use crate::report::{Finding, Severity, Subject};
use crate::time::Timestamp;
use serde_json::{Map, Value, json};

pub const KEEPALIVE_DECLINED: &str = "http-keepalive-declined";
pub const UPSTREAM_NO_KEEPALIVE: &str = "http-upstream-no-keepalive";
pub const POOL_CHURN: &str = "http-keepalive-pool-churn";
pub const HOP_BY_HOP_FORWARDED: &str = "http-hop-by-hop-forwarded";
pub const IDLE_CLOSE: &str = "http-idle-close";
pub const REUSE_RACE: &str = "http-reuse-race";

/// Server defaults and version facts, with sources.
pub mod defaults {
    /// nginx proxies upstream with HTTP/1.1 and keeps explicit upstreams' connections alive by
    /// default from 1.29.7 (nginx commits 6bb27a631 "Proxy: enabled HTTP/1.1 by default for
    /// upstream connections" and 4fbe4b627 "Upstream: enabled keepalive by default for explicit
    /// upstreams"; in 1.30.0 stable).
    pub const NGINX_UPSTREAM_KEEPALIVE_DEFAULT_SINCE: (u32, u32, u32) = (1, 29, 7);
    /// Idle timeouts of common servers (reference notes §4): nginx `keepalive_timeout` 75 s,
    /// Apache `KeepAliveTimeout` 5 s, Node.js `server.keepAliveTimeout` 5 s (65 s from v26).
    pub const KNOWN_IDLE_TIMEOUTS: [(&str, f64); 3] = [
        ("nginx keepalive_timeout", 75.0),
        ("Apache KeepAliveTimeout", 5.0),
        ("Node.js keepAliveTimeout", 5.0),
    ];
}

/// `nginx/1.22.1` → (1, 22, 1).
pub fn nginx_version(server: &str) -> Option<(u32, u32, u32)> {
    let rest = server.trim().strip_prefix("nginx/")?;
    let version = rest
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()?;
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The values are moved in, not cloned: hop findings are built serially after the analysis,
/// up to two per hop.
fn evidence<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    // Inserted one by one: collecting sorts the pairs in a buffer of its own first, which for
    // a handful of keys cost more than the inserts.
    let mut map = Map::new();
    for (key, value) in pairs {
        map.insert(key.to_string(), value);
    }
    map
}

fn ids(examples: &[ConnectionId]) -> Value {
    Value::Array(examples.iter().map(|id| json!(id.to_string())).collect())
}

/// `client -> server`, as hop lines name the hop ([`super::hop_line`]).
fn hop_text(hop: &Hop) -> String {
    let mut text = String::with_capacity(64);
    hop.key.push_to(&mut text);
    text
}

pub fn keepalive_declined(number: u32, hop: &Hop) -> Finding {
    let rules: Vec<String> = hop
        .declined_rules
        .iter()
        .map(|(rule, count)| format!("{rule} ({count})"))
        .collect();
    let first_rule = hop
        .declined_rules
        .keys()
        .next()
        .copied()
        .unwrap_or("unknown");
    Finding {
        code: KEEPALIVE_DECLINED,
        severity: Severity::Warning,
        ts: hop.declined_first_ts.unwrap_or(hop.first_ts),
        subject: Subject::HttpHop(number),
        message: format!(
            "on {}, {} of {} connections: the client asked for keep-alive and the server closed after the first response ({})",
            hop_text(hop),
            hop.declined,
            hop.connections,
            describe_rule(first_rule)
        ),
        advice: format!(
            "enable keep-alive on {}: nginx `keepalive_timeout 75s;` (0 disables it), Apache `KeepAlive On`, HAProxy remove `option httpclose`; a server answering HTTP/1.0 must send `Connection: keep-alive`",
            hop.key.server
        ),
        evidence: evidence([
            ("hop", json!(number)),
            ("connections", json!(hop.connections)),
            ("declined_connections", json!(hop.declined)),
            ("rules", json!(rules)),
            ("server_software", json!(hop.server_software)),
            ("examples", ids(&hop.declined_examples)),
        ]),
    }
}

fn describe_rule(rule: &str) -> &'static str {
    match rule {
        "response-connection-close" => "the response says `Connection: close`",
        "http10-response-without-keep-alive" => {
            "the response is HTTP/1.0 without `Connection: keep-alive`"
        }
        "close-delimited-response" => "the response has no length, so it ends by closing",
        "request-connection-close" => "the request says `Connection: close`",
        "http10-request-without-keep-alive" => {
            "the request is HTTP/1.0 without `Connection: keep-alive`"
        }
        _ => "RFC 9112 §9.3",
    }
}

/// A proxy hop (`hop`) that does not offer keep-alive, behind `front` whose clients do.
pub fn upstream_no_keepalive(
    number: u32,
    hop: &Hop,
    front: Option<(u32, &Hop)>,
    peak: u64,
) -> Finding {
    let rules: Vec<String> = hop
        .not_offered_rules
        .iter()
        .map(|(rule, count)| format!("{rule} ({count})"))
        .collect();
    let first_rule = hop
        .not_offered_rules
        .keys()
        .next()
        .copied()
        .unwrap_or("unknown");
    let proxy_software = front.and_then(|(_, f)| f.server_software.clone());
    let front_text = match front {
        Some((front_number, front_hop)) => format!(
            " while its clients on hop {front_number} ({}) use {} ({} requests on {} connections)",
            hop_text(front_hop),
            front_hop.mode(),
            front_hop.requests,
            front_hop.connections
        ),
        None => " (its requests carry Via/X-Forwarded-For: it is a proxy)".to_string(),
    };
    let pool = peak.max(2);
    Finding {
        code: UPSTREAM_NO_KEEPALIVE,
        severity: Severity::Warning,
        ts: hop.not_offered_first_ts.unwrap_or(hop.first_ts),
        subject: Subject::HttpHop(number),
        message: format!(
            "the proxy {} opens a new upstream connection per request to {} ({}; {} requests on {} connections){front_text}",
            hop.key.client,
            hop.key.server,
            describe_rule(first_rule),
            hop.requests,
            hop.connections
        ),
        advice: format!(
            "{} HAProxy: `option http-keep-alive` and `http-reuse safe` in the backend. Envoy: use an HTTP/1.1 cluster without `max_requests_per_connection: 1` and let the connection manager strip `Connection`.",
            nginx_upstream_advice(proxy_software.as_deref(), pool)
        ),
        evidence: evidence([
            ("hop", json!(number)),
            ("front_hop", json!(front.map(|(n, _)| n))),
            ("connections", json!(hop.connections)),
            ("requests", json!(hop.requests)),
            ("request_versions", json!(hop.request_versions)),
            ("rules", json!(rules)),
            ("proxy_software", json!(proxy_software)),
            ("peak_concurrent_connections", json!(peak)),
        ]),
    }
}

fn nginx_upstream_advice(proxy_software: Option<&str>, pool: u64) -> String {
    let classic = format!(
        "in the `upstream` block `keepalive {pool};` and in the location `proxy_http_version 1.1; proxy_set_header Connection \"\";`"
    );
    match proxy_software.and_then(nginx_version) {
        Some(version) if version < defaults::NGINX_UPSTREAM_KEEPALIVE_DEFAULT_SINCE => format!(
            "nginx {}.{}.{} (before 1.29.7 nginx proxies with HTTP/1.0 and `Connection: close` by default): {classic}.",
            version.0, version.1, version.2
        ),
        Some(version) => format!(
            "nginx {}.{}.{} keeps upstream connections alive by default (HTTP/1.1, `keepalive 32` for `upstream` blocks): remove `proxy_http_version 1.0`, `proxy_set_header Connection close` or `keepalive 0`, and proxy to an `upstream` block rather than a variable (set `keepalive {pool};`).",
            version.0, version.1, version.2
        ),
        None => format!(
            "nginx up to 1.29.6: {classic}; from 1.29.7 this is the default, so look for `proxy_http_version 1.0` or `keepalive 0`."
        ),
    }
}

/// Keep-alive connections of a proxy's upstream (or a client) closed right after one or a few
/// requests.
pub struct Churn<'a> {
    pub number: u32,
    pub hops: Vec<(u32, &'a Hop)>,
    pub connections: u64,
    pub requests: u64,
    pub churned: u64,
    pub peak: u64,
    pub is_proxy: bool,
    pub examples: Vec<ConnectionId>,
    pub ts: Timestamp,
}

pub fn pool_churn(churn: &Churn<'_>) -> Finding {
    let servers: Vec<String> = churn
        .hops
        .iter()
        .map(|(_, h)| h.key.server.to_string())
        .collect();
    let client = churn
        .hops
        .first()
        .map(|(_, h)| h.key.client.to_string())
        .unwrap_or_default();
    let per_request = if churn.requests == 0 {
        0.0
    } else {
        (churn.connections as f64 / churn.requests as f64 * 100.0).round() / 100.0
    };
    let advice = if churn.is_proxy {
        format!(
            "the proxy's idle pool is smaller than its concurrency: nginx closes connections that do not fit in `keepalive N` (per worker, shared by all {} servers of the upstream); raise it to at least the peak of {} concurrent upstream connections (`keepalive {};`), and keep the upstream's idle timeout above the proxy's `keepalive_timeout`. HAProxy: raise `pool-max-conn`/`pool-low-conn`; Envoy: raise the cluster's `max_connections`/idle pool.",
            servers.len(),
            churn.peak,
            churn.peak.max(2)
        )
    } else {
        format!(
            "the client opens a connection per request though the server keeps them: reuse one HTTP client/session object (curl: one handle, Go: one http.Client, Python requests: a Session) with an idle pool of at least {} connections",
            churn.peak.max(1)
        )
    };
    Finding {
        code: POOL_CHURN,
        severity: Severity::Warning,
        ts: churn.ts,
        subject: Subject::HttpHop(churn.number),
        message: format!(
            "{client} -> {}: {} connections for {} requests ({per_request} connections per request) although keep-alive was negotiated; {} were closed by the client right after a response",
            servers.join(", "),
            churn.connections,
            churn.requests,
            churn.churned
        ),
        advice,
        evidence: evidence([
            (
                "hops",
                json!(churn.hops.iter().map(|(n, _)| *n).collect::<Vec<_>>()),
            ),
            ("servers", json!(servers)),
            ("connections", json!(churn.connections)),
            ("requests", json!(churn.requests)),
            ("connections_per_request", json!(per_request)),
            ("closed_right_after_response", json!(churn.churned)),
            ("peak_concurrent_connections", json!(churn.peak)),
            ("examples", ids(&churn.examples)),
        ]),
    }
}

pub fn hop_by_hop_forwarded(number: u32, hop: &Hop, front: Option<u32>) -> Finding {
    let (ts, what) = hop
        .hop_by_hop_example
        .clone()
        .unwrap_or((hop.first_ts, "a hop-by-hop field".to_string()));
    Finding {
        code: HOP_BY_HOP_FORWARDED,
        severity: Severity::Warning,
        ts,
        subject: Subject::HttpHop(number),
        message: format!(
            "the proxy {} forwarded {what} to {} ({} requests); RFC 9110 §7.6.1 makes these fields hop-by-hop",
            hop.key.client, hop.key.server, hop.hop_by_hop_forwarded
        ),
        advice: "make the proxy drop `Connection`, `Keep-Alive`, `Proxy-Connection` and the fields named in `Connection` before forwarding: nginx `proxy_set_header Connection \"\";` (and `proxy_set_header Keep-Alive \"\";` for custom ones), HAProxy and Envoy strip them by default, check custom `http-request set-header` rules".to_string(),
        evidence: evidence([
            ("hop", json!(number)),
            ("front_hop", json!(front)),
            ("forwarded_requests", json!(hop.hop_by_hop_forwarded)),
            ("example", json!(what)),
        ]),
    }
}

pub fn idle_close(number: u32, hop: &Hop, closer: &str, closes: &IdleCloses) -> Finding {
    // Up to two per hop, built serially after the analysis: the durations are written by
    // `fixed` (the same text as `{:.1}`) and each once.
    let typical = fixed(closes.min_s, 1);
    let implication = if closer == "server" {
        let suggested = fixed((closes.min_s - 1.0).max(0.5), 0);
        format!(
            "the server's keep-alive idle timeout is about {typical} s (nginx `keepalive_timeout`, Apache `KeepAliveTimeout`, Node.js `server.keepAliveTimeout`); every client or proxy pool reusing these connections must close idle ones sooner: set its idle timeout below {typical} s (e.g. {suggested} s), or requests will race the server's close (http-reuse-race)"
        )
    } else {
        format!(
            "the client closes idle connections after about {typical} s, before the server does: this is the safe order (the side with the shorter idle timeout closes); keep the server's timeout above {typical} s"
        )
    };
    Finding {
        code: IDLE_CLOSE,
        severity: Severity::Info,
        ts: closes.first_ts.unwrap_or(hop.first_ts),
        subject: Subject::HttpHop(number),
        message: format!(
            "on {}, the {closer} closed {} idle keep-alive connections after {} (idle since the last response)",
            hop_text(hop),
            closes.count,
            range_text(closes)
        ),
        advice: implication,
        evidence: evidence([
            ("hop", json!(number)),
            ("closed_by", json!(closer)),
            ("connections", json!(closes.count)),
            (
                "idle_min_s",
                json!(crate::report::round_millis(closes.min_s)),
            ),
            (
                "idle_max_s",
                json!(crate::report::round_millis(closes.max_s)),
            ),
        ]),
    }
}

fn range_text(closes: &IdleCloses) -> String {
    let mut text = fixed(closes.min_s, 1);
    let one_value = (closes.max_s - closes.min_s).abs() < 0.05;
    if !one_value {
        text.push('–');
        push_fixed(&mut text, closes.max_s, 1);
    }
    text.push_str(" s");
    text
}

/// Facts of one request sent on a connection the server was closing.
pub struct Race {
    pub connection: ConnectionId,
    pub request_index: u64,
    pub request_ts: Timestamp,
    pub close_ts: Timestamp,
    pub close_kind: &'static str,
    pub answered_by_rst: bool,
    pub idle_before_request_s: Option<f64>,
}

pub fn reuse_race(race: &Race) -> Finding {
    let gap_ms = (race.request_ts.secs_since(race.close_ts) * 1000.0 * 10.0).round() / 10.0;
    let when = if gap_ms >= 0.0 {
        format!(
            "{gap_ms} ms after the server's {}",
            race.close_kind.to_uppercase()
        )
    } else {
        format!(
            "{} ms before the server's {} arrived",
            -gap_ms,
            race.close_kind.to_uppercase()
        )
    };
    let idle = race
        .idle_before_request_s
        .map(|s| format!(" after {s:.1} s idle"))
        .unwrap_or_default();
    let limit = race
        .idle_before_request_s
        .map(|s| format!("below {:.0} s", (s - 1.0).max(0.5)))
        .unwrap_or_else(|| "below the server's keep-alive timeout".to_string());
    Finding {
        code: REUSE_RACE,
        severity: Severity::Error,
        ts: race.request_ts,
        subject: Subject::Connection(race.connection),
        message: format!(
            "request #{} was sent on a reused connection{idle}, {when}; it was answered {} (a proxy reports this as 502 / \"upstream prematurely closed connection\")",
            race.request_index + 1,
            if race.answered_by_rst {
                "by RST"
            } else {
                "by nothing"
            }
        ),
        advice: format!(
            "the client's idle pool outlives the server's keep-alive timeout: set the client/proxy idle timeout {limit} (nginx upstream `keepalive_timeout`, Go `IdleConnTimeout`, undici `keepAliveTimeout`) or raise the server's; retry idempotent requests on a fresh connection"
        ),
        evidence: evidence([
            ("request_index", json!(race.request_index)),
            ("server_close_kind", json!(race.close_kind)),
            ("request_after_close_ms", json!(gap_ms)),
            ("answered_by_rst", json!(race.answered_by_rst)),
            (
                "idle_before_request_s",
                json!(race.idle_before_request_s.map(crate::report::round_millis)),
            ),
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nginx_versions_are_read_from_the_server_header() {
        assert_eq!(nginx_version("nginx/1.22.1"), Some((1, 22, 1)));
        assert_eq!(nginx_version("nginx/1.30.0 (Ubuntu)"), Some((1, 30, 0)));
        assert_eq!(nginx_version("nginx"), None);
        assert_eq!(nginx_version("Apache/2.4"), None);
    }

    #[test]
    fn nginx_advice_follows_the_version() {
        assert!(nginx_upstream_advice(Some("nginx/1.22.1"), 8).contains("keepalive 8;"));
        assert!(nginx_upstream_advice(Some("nginx/1.22.1"), 8).contains("proxy_http_version 1.1"));
        assert!(nginx_upstream_advice(Some("nginx/1.29.7"), 8).contains("by default"));
        assert!(nginx_upstream_advice(None, 8).contains("1.29.7"));
    }
}
