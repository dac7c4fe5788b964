//! Silent deaths: after an idle gap the next segment is retransmitted into nothing, with no
//! RST and no answer. This is how a middlebox that drops expired flows (Linux conntrack with
//! DROP, Azure Load Balancer by default, AWS Network Firewall, many firewalls) kills idle
//! connections: the sender only learns of it when its retransmission timeout gives up
//! (`tcp_retries2`, about 15 minutes on Linux) or `TCP_USER_TIMEOUT` fires.

use super::advice::keepalive_knobs;
use super::{Context, Details, Detector};
use crate::explain::code;
use crate::flow::Connection;
use crate::knowledge::keepalive_defaults::recommended_time_below;
use crate::knowledge::middleboxes::{self, Expiry};
use crate::report::{Finding, Severity, Subject};
use crate::time::human_duration;
use serde_json::{Map, json};

pub struct BlackHoleDetector;

impl Detector for BlackHoleDetector {
    fn on_connection_end(
        &mut self,
        connection: &Connection,
        context: &mut Context<'_>,
        _details: &mut Details,
    ) {
        let Some((side, trying_for)) = connection.black_hole_after_idle() else {
            return;
        };
        let idle = connection.max_idle_nanos as f64 / 1e9;
        if idle < context.config.idle_threshold_secs {
            return;
        }
        let sender = connection.half(side);
        let droppers: Vec<&str> = middleboxes::matching(idle, (idle * 0.05).max(2.0))
            .into_iter()
            .filter(|m| matches!(m.at_expiry, Expiry::SilentDrop | Expiry::DropOrResetBoth))
            .map(|m| m.display_name)
            .collect();
        let mut evidence = Map::new();
        evidence.insert("idle_s".into(), json!(crate::report::round_millis(idle)));
        evidence.insert("sender".into(), json!(connection.endpoint(side)));
        evidence.insert("retransmissions".into(), json!(sender.retransmissions));
        evidence.insert(
            "unanswered_for_s".into(),
            json!(crate::report::round_millis(trying_for)),
        );
        evidence.insert("matching_middleboxes".into(), json!(droppers));
        let stated = context.config.smallest_middlebox_timeout();
        let timeout = stated.unwrap_or(idle);
        context.finding(Finding {
            code: code::IDLE_BLACKHOLE,
            severity: Severity::Error,
            ts: connection.max_idle_end.unwrap_or(connection.last_seen),
            subject: Subject::Connection(connection.id),
            message: format!(
                "After {} idle, {} sent data and retransmitted it {} times over {} with no answer and no RST: a device on the path forgot the connection and silently drops it{}.",
                human_duration(idle),
                connection.endpoint(side),
                sender.retransmissions,
                human_duration(trying_for),
                if droppers.is_empty() { String::new() } else { format!(" (idle matches {})", droppers.join(", ")) }
            ),
            advice: format!(
                "Keep the keepalive time below the device's idle timeout ({}):\n{}\nTo fail fast instead of retransmitting for ~15 minutes: TCP_USER_TIMEOUT on the socket, or a lower net.ipv4.tcp_retries2.",
                human_duration(timeout),
                keepalive_knobs(recommended_time_below(timeout))
            ),
            evidence,
        });
    }
}
