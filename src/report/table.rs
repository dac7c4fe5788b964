//! `--format table`: findings for people, then a summary, then timelines with `--timeline`.
//!
//! Colour only marks severity, and only when the caller says colour is wanted (a terminal,
//! `--color always`); widths are fixed at 160 columns when not writing to a terminal so that
//! output pasted into a ticket, and snapshot tests, do not depend on the window.

use super::{ConnectionRecord, Event, Finding, Report, Severity};
use crate::detect::Section;
use crate::time::{Timestamp, human_duration};
use comfy_table::{Cell, Color, ContentArrangement, Table, presets};
use std::io::{self, Write};

pub struct TableOptions {
    pub color: bool,
    /// Terminal width, or None when not a terminal.
    pub width: Option<u16>,
    pub timeline: bool,
    /// The findings listed of each code (`--findings-per-code`), for the line on the others.
    pub findings_per_code: usize,
}

pub fn write_report(
    report: &Report,
    options: &TableOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    write_findings(report, options, out)?;
    write_not_listed(report, options, out)?;
    write_http_hops(report, out)?;
    write_vrrp_masters(report, out)?;
    write_summary(report, out)?;
    if options.timeline {
        write_timelines(report, out)?;
    }
    Ok(())
}

fn severity_cell(severity: Severity, color: bool) -> Cell {
    let cell = Cell::new(severity.name());
    if !color {
        return cell;
    }
    match severity {
        Severity::Error => cell.fg(Color::Red),
        Severity::Warning => cell.fg(Color::Yellow),
        Severity::Info => cell.fg(Color::Cyan),
    }
}

/// Width of tables written to a pipe or file: wide enough for a sysctl line in the advice
/// column, fixed so that pasted output and snapshots do not depend on a window.
pub const PIPE_WIDTH: u16 = 160;

/// The table style every kaprobe command uses.
pub fn styled_table(header: Vec<&str>, color: bool, width: Option<u16>) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width.unwrap_or(PIPE_WIDTH))
        .set_header(header);
    if color {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

fn write_findings(report: &Report, options: &TableOptions, out: &mut dyn Write) -> io::Result<()> {
    let findings = report.sorted_findings();
    if findings.is_empty() {
        writeln!(out, "No findings.")?;
        return Ok(());
    }
    let mut table = styled_table(
        vec!["severity", "code", "where", "what", "advice"],
        options.color,
        options.width,
    );
    for finding in findings {
        table.add_row(finding_row(finding, options.color));
    }
    writeln!(out, "{table}")
}

/// One line per code whose findings were not all listed, so that none goes unseen.
fn write_not_listed(
    report: &Report,
    options: &TableOptions,
    out: &mut dyn Write,
) -> io::Result<()> {
    if report.not_listed.is_empty() {
        return Ok(());
    }
    let total: u64 = report.not_listed.iter().map(|n| n.count).sum();
    writeln!(
        out,
        "{total} more findings not listed, beyond the first {} of each code (--findings-per-code 0 lists all, as does --format json):",
        options.findings_per_code
    )?;
    for not_listed in &report.not_listed {
        writeln!(
            out,
            "  {:<8} {:<28} {} more, {} to {}",
            not_listed.severity.name(),
            not_listed.code,
            not_listed.count,
            not_listed.first,
            not_listed.last
        )?;
    }
    Ok(())
}

fn finding_row(finding: &Finding, color: bool) -> Vec<Cell> {
    vec![
        severity_cell(finding.severity, color),
        Cell::new(finding.code),
        Cell::new(format!("{}\n{}", finding.subject, finding.ts)),
        Cell::new(&finding.message),
        Cell::new(&finding.advice),
    ]
}

/// The HTTP chain, one line a hop, as the HTTP detector phrased it.
fn write_http_hops(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let Some(Section::HttpHops(hops)) = report.sections.get("http_hops") else {
        return Ok(());
    };
    if hops.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "HTTP hops")?;
    for hop in hops {
        writeln!(out, "  {}", hop.line)?;
    }
    Ok(())
}

/// Who was VRRP master when, per group.
fn write_vrrp_masters(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    let Some(Section::Value(vrrp)) = report.sections.get("vrrp") else {
        return Ok(());
    };
    let Some(groups) = vrrp.get("groups").and_then(|g| g.as_array()) else {
        return Ok(());
    };
    if groups.is_empty() {
        return Ok(());
    }
    writeln!(out)?;
    writeln!(out, "VRRP masters")?;
    for group in groups {
        let name = format!(
            "vrrp/{} v{} {}",
            group["vrid"],
            group["version"],
            group["family"].as_str().unwrap_or("")
        );
        let periods: Vec<String> = group["masters"]
            .as_array()
            .map(|masters| {
                masters
                    .iter()
                    .map(|m| {
                        let from = m["from"].as_f64().map_or(String::new(), epoch_text);
                        format!(
                            "{} (prio {}) from {} for {}",
                            m["ip"].as_str().unwrap_or("?"),
                            m["priority"],
                            from,
                            human_duration(m["duration_s"].as_f64().unwrap_or(0.0))
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        writeln!(out, "  {name}: {}", periods.join(", then "))?;
    }
    Ok(())
}

fn epoch_text(seconds: f64) -> String {
    Timestamp::from_nanos((seconds * 1e9).round() as i64).to_string()
}

fn write_summary(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(out, "Summary")?;
    for input in &report.inputs {
        writeln!(
            out,
            "  input {}: {}, {} packets, {} bytes, link {}",
            input.path,
            input.format,
            input.packets,
            input.bytes,
            if input.link_types.is_empty() {
                "-".to_string()
            } else {
                input.link_types.join(", ")
            }
        )?;
        for warning in &input.warnings {
            writeln!(out, "    warning: {warning}")?;
        }
    }
    let s = &report.summary;
    writeln!(
        out,
        "  packets {}, TCP connections {}, keepalive probes {} (ACKs {}), zero-window probes {}, RSTs {}",
        s.packets,
        s.tcp_connections,
        s.keepalive_probes,
        s.keepalive_acks,
        s.zero_window_probes,
        s.rsts
    )?;
    if s.late_segments > 0 {
        writeln!(
            out,
            "  late segments {} (on the tuple of a connection closed more than 5 s before: counted, not analyzed)",
            s.late_segments
        )?;
    }
    writeln!(
        out,
        "  HTTP requests {}, responses {}, VRRP adverts {}",
        s.http_requests, s.http_responses, s.vrrp_adverts
    )?;
    writeln!(
        out,
        "  findings: {} error, {} warning, {} info",
        s.findings.error, s.findings.warning, s.findings.info
    )
}

fn write_timelines(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    for connection in report.connections.iter().filter(|c| !c.timeline.is_empty()) {
        write_connection_timeline(connection, out)?;
    }
    for (subject, events) in &report.other_timelines {
        writeln!(out)?;
        writeln!(out, "Timeline {subject}")?;
        let start = events.first().map_or(Timestamp::from_nanos(0), |e| e.ts);
        for event in events {
            write_event(event, start, out)?;
        }
    }
    Ok(())
}

fn write_connection_timeline(connection: &ConnectionRecord, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "Timeline {}  {} -> {}  ({}, started {})",
        connection.id, connection.client, connection.server, connection.state, connection.start
    )?;
    for event in &connection.timeline {
        let who = match event.from {
            Some(from) if from == connection.client => "client ",
            Some(from) if from == connection.server => "server ",
            Some(_) => "other  ",
            None => "       ",
        };
        if event.kind == "idle" {
            writeln!(out, "  {:>13}  {}", "", event.text)?;
            continue;
        }
        writeln!(
            out,
            "  {:>+13.6}  {who}{}",
            event.ts.secs_since(connection.start),
            event_text(event)
        )?;
    }
    Ok(())
}

fn write_event(event: &Event, start: Timestamp, out: &mut dyn Write) -> io::Result<()> {
    if event.kind == "idle" {
        return writeln!(out, "  {:>13}  {}", "", event.text);
    }
    writeln!(
        out,
        "  {:>+13.6}  {}",
        event.ts.secs_since(start),
        event_text(event)
    )
}

fn event_text(event: &Event) -> String {
    if event.kind == "data" {
        let segments = if event.count == 1 {
            "1 segment".to_string()
        } else {
            format!("{} segments", event.count)
        };
        return format!("data, {segments}, {} bytes", event.bytes);
    }
    event.text.to_string()
}

/// Used by detectors' messages: `idle 90.0 s`.
pub fn idle_text(seconds: f64) -> String {
    format!("idle {}", human_duration(seconds))
}
