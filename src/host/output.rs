//! Renders `sysctl check`, `--list-middleboxes` and `sockets` results as tables for people
//! or JSON (`--format json` pretty, `--format jsonl` one compact line). Pure functions of the
//! result structures: nothing is computed here.

use super::sockets::SocketListing;
use super::sysctl_checks::{Status, SysctlReport};
use crate::cli::{Format, OutputArgs};
use crate::knowledge::middleboxes::{Layer, MIDDLEBOXES};
use crate::report::Severity;
use crate::time::human_duration;
use anyhow::{Context, Result};
use comfy_table::{Cell, Color, Table};
use serde::Serialize;
use std::io::{self, Write};

fn write_json<T: Serialize>(value: &T, format: Format, out: &mut dyn Write) -> io::Result<()> {
    if format == Format::Json {
        serde_json::to_writer_pretty(&mut *out, value)?;
    } else {
        serde_json::to_writer(&mut *out, value)?;
    }
    out.write_all(b"\n")
}

fn new_table(header: Vec<&str>, color: bool) -> Table {
    crate::report::table::styled_table(header, color, crate::run::terminal_width())
}

fn with_stdout(write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    write(&mut out).context("writing the report")?;
    out.flush().context("writing the report")
}

pub fn write_sysctl_report(report: &SysctlReport, output: &OutputArgs) -> Result<()> {
    let color = crate::run::use_color(output.color);
    with_stdout(|out| match output.format {
        Format::Table => sysctl_table(report, color, out),
        format => write_json(report, format, out),
    })
}

fn status_cell(status: Status, color: bool) -> Cell {
    let cell = Cell::new(status.name());
    match (color, status) {
        (false, _) | (true, Status::Ok) => cell,
        (true, Status::Warn) => cell.fg(Color::Yellow),
        (true, Status::Fail) => cell.fg(Color::Red),
    }
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn sysctl_table(report: &SysctlReport, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let place = match &report.netns {
        Some(name) => format!("network namespace {name}"),
        None => format!("root {}", report.root),
    };
    writeln!(out, "TCP keepalive settings ({place})")?;
    let mut table = new_table(
        vec!["setting", "value", "recommended", "verdict", "why"],
        color,
    );
    for check in &report.checks {
        table.add_row(vec![
            Cell::new(&check.name),
            Cell::new(value_text(&check.value)),
            Cell::new(value_text(&check.recommended)),
            status_cell(check.status, color),
            Cell::new(&check.message),
        ]);
    }
    writeln!(out, "{table}")?;
    if report.findings.is_empty() {
        writeln!(out, "\nNo findings.")?;
    } else {
        let mut findings = new_table(vec!["severity", "code", "what", "advice"], color);
        let mut sorted: Vec<_> = report.findings.iter().collect();
        sorted.sort_by_key(|finding| std::cmp::Reverse(finding.severity));
        for finding in sorted {
            findings.add_row(vec![
                severity_cell(finding.severity, color),
                Cell::new(finding.code),
                Cell::new(&finding.message),
                Cell::new(&finding.advice),
            ]);
        }
        writeln!(out, "\n{findings}")?;
    }
    if !report.advice.commands.is_empty() {
        writeln!(out, "\nApply now:")?;
        for command in &report.advice.commands {
            writeln!(out, "  {command}")?;
        }
        writeln!(
            out,
            "\nPersist in {} (then `sysctl --system`):",
            report.advice.file
        )?;
        for line in report.advice.file_content.lines() {
            writeln!(out, "  {line}")?;
        }
    }
    writeln!(out, "\nNotes:")?;
    for note in &report.notes {
        writeln!(out, "  - {note}")?;
    }
    let s = &report.summary;
    writeln!(
        out,
        "\nfindings: {} error, {} warning, {} info",
        s.error, s.warning, s.info
    )
}

fn severity_cell(severity: Severity, color: bool) -> Cell {
    let cell = Cell::new(severity.name());
    match (color, severity) {
        (false, _) => cell,
        (true, Severity::Error) => cell.fg(Color::Red),
        (true, Severity::Warning) => cell.fg(Color::Yellow),
        (true, Severity::Info) => cell.fg(Color::Cyan),
    }
}

#[derive(Serialize)]
struct MiddleboxList {
    middleboxes: &'static [crate::knowledge::middleboxes::Middlebox],
}

pub fn write_middlebox_list(output: &OutputArgs) -> Result<()> {
    let color = crate::run::use_color(output.color);
    with_stdout(|out| match output.format {
        Format::Table => middlebox_table(color, out),
        format => write_json(
            &MiddleboxList {
                middleboxes: MIDDLEBOXES,
            },
            format,
            out,
        ),
    })
}

fn middlebox_table(color: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut table = new_table(
        vec![
            "name",
            "device",
            "idle timeout",
            "keepalive helps",
            "at expiry",
            "knob",
            "source",
        ],
        color,
    );
    for middlebox in MIDDLEBOXES {
        let timeout = middlebox
            .default_idle_secs
            .map_or_else(|| "none".to_string(), |s| format!("{s} s"));
        let helps = match middlebox.layer {
            Layer::L4 => "yes (L4)",
            Layer::L7 => "no (L7 proxy)",
        };
        let source = if middlebox.verified {
            middlebox.source.to_string()
        } else {
            format!(
                "{} (not confirmed against the primary doc)",
                middlebox.source
            )
        };
        table.add_row(vec![
            Cell::new(middlebox.name),
            Cell::new(format!("{}\n{}", middlebox.display_name, middlebox.note)),
            Cell::new(timeout),
            Cell::new(helps),
            Cell::new(middlebox.at_expiry.describe()),
            Cell::new(middlebox.knob),
            Cell::new(source),
        ]);
    }
    writeln!(out, "{table}")
}

pub fn write_sockets(listing: &SocketListing, output: &OutputArgs) -> Result<()> {
    let color = crate::run::use_color(output.color);
    with_stdout(|out| match output.format {
        Format::Table => sockets_table(listing, color, out),
        format => write_json(listing, format, out),
    })
}

fn sockets_table(listing: &SocketListing, color: bool, out: &mut dyn Write) -> io::Result<()> {
    let mut table = new_table(
        vec!["state", "local", "remote", "process", "timer", "fires in"],
        color,
    );
    for socket in &listing.sockets {
        let process = socket.process.as_ref().map_or_else(
            || format!("uid {}", socket.uid),
            |p| format!("{} ({})", p.name, p.pid),
        );
        let fires = socket
            .timer_expires_s
            .map_or_else(|| "-".to_string(), human_duration);
        table.add_row(vec![
            Cell::new(socket.state),
            Cell::new(socket.local),
            Cell::new(socket.remote),
            Cell::new(process),
            Cell::new(socket.timer),
            Cell::new(fires),
        ]);
    }
    if listing.sockets.is_empty() {
        writeln!(out, "No sockets match.")?;
    } else {
        writeln!(out, "{table}")?;
    }
    let s = &listing.summary;
    writeln!(
        out,
        "\n{} sockets, {} established: {} with a keepalive timer, {} without",
        s.sockets, s.established, s.established_with_keepalive, s.established_without_keepalive
    )?;
    if s.processes_unreadable > 0 {
        writeln!(
            out,
            "{} processes' open files could not be read (run as root to see every owner)",
            s.processes_unreadable
        )?;
    }
    for warning in &listing.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    Ok(())
}
