//! The basic TCP story of each connection for timelines: handshake, data runs, idle gaps,
//! retransmissions, FIN and RST. It judges nothing; other detectors add the diagnosis.

use super::{Context, Detector, Segment};
use crate::config::AnalysisConfig;
use crate::report::{Event, Subject};
use crate::time::human_duration;
use std::borrow::Cow;

/// Idle gaps shorter than this are not worth a line in a timeline.
const IDLE_EVENT_MIN_SECS: f64 = 1.0;

pub struct TcpEvents;

impl TcpEvents {
    pub fn new(_config: &AnalysisConfig) -> TcpEvents {
        TcpEvents
    }
}

impl Detector for TcpEvents {
    fn on_segment(&mut self, segment: &Segment<'_, '_>, context: &mut Context<'_>) {
        if !context.output.wants_events() {
            return;
        }
        let subject = Subject::Connection(segment.connection.id);
        let ts = segment.packet.ts;
        let from = segment
            .connection
            .endpoint(segment.analysis.side.unwrap_or(crate::flow::Side::Client));
        let idle = segment.analysis.idle_before_secs();
        if idle >= IDLE_EVENT_MIN_SECS {
            context.event(Event::new(
                ts,
                subject,
                "idle",
                format!("idle {}", human_duration(idle)),
            ));
        }
        let flags = segment.tcp.flags;
        let (kind, text) = if flags.rst() {
            (
                "rst",
                Cow::Owned(format!(
                    "RST seq {} ttl {}",
                    segment.tcp.seq, segment.ip.ttl
                )),
            )
        } else if flags.syn() && flags.ack() {
            ("syn-ack", Cow::Borrowed("SYN-ACK"))
        } else if flags.syn() {
            ("syn", Cow::Borrowed("SYN"))
        } else if flags.fin() {
            ("fin", Cow::Borrowed("FIN"))
        } else if segment.analysis.retransmission {
            (
                "retransmission",
                Cow::Owned(format!("retransmission, {} bytes", segment.tcp.payload_len)),
            )
        } else if segment.tcp.payload_len > 0 && segment.analysis.new_payload_bytes > 0 {
            let mut event = Event::new(ts, subject, "data", "").from(from);
            event.bytes = u64::from(segment.tcp.payload_len);
            context.event(event);
            return;
        } else {
            return;
        };
        context.event(Event::new(ts, subject, kind, text).from(from));
    }
}
