//! Advice text shared by detectors: the exact knobs that set TCP keepalive, with values.

/// Interval and count kaprobe suggests with a given keepalive time: probes every 10 s (or
/// a quarter of the time when that is shorter), 6 of them, so a dead peer is noticed about a
/// minute after the first probe instead of Linux's 11 minutes.
pub fn suggested_interval_and_count(time_secs: u64) -> (u64, u64) {
    ((time_secs / 4).clamp(1, 10), 6)
}

/// How to get keepalive probes every `time_secs` of idle: per socket, host-wide, and in the
/// proxies users run. One knob per line, so it reads in a table cell and pastes into a shell.
pub fn keepalive_knobs(time_secs: u64) -> String {
    let (interval, count) = suggested_interval_and_count(time_secs);
    format!(
        "socket: SO_KEEPALIVE=1 TCP_KEEPIDLE={time_secs} TCP_KEEPINTVL={interval} TCP_KEEPCNT={count}\n\
host (defaults for sockets with SO_KEEPALIVE):\n\
  sysctl -w net.ipv4.tcp_keepalive_time={time_secs}\n\
  sysctl -w net.ipv4.tcp_keepalive_intvl={interval}\n\
  sysctl -w net.ipv4.tcp_keepalive_probes={count}\n\
nginx: listen ... so_keepalive={time_secs}s:{interval}s:{count};\n\
HAProxy: option clitcpka / option srvtcpka (uses the sysctls)"
    )
}
