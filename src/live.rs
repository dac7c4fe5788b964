//! `kaprobe capture`: capture from a live interface and analyze while capturing, then print
//! the same report as `kaprobe analyze` for what was captured.
//!
//! The loop reads one frame at a time from libpcap ([`crate::capture::live`]), writes it to
//! `-w` (optionally rotating, [`crate::capture::rotate`]) and hands it to the analysis, which
//! streams findings and events at once with `--format jsonl`. libpcap's read timeout (100 ms)
//! bounds how long the loop is away from its stop conditions: `--duration` (wall clock),
//! `--count` (frames captured), or SIGINT/SIGTERM/SIGHUP; a second signal exits at once with
//! status 130. A status line on stderr (indicatif, a terminal only) is refreshed four times a
//! second from `Analysis::summary()`.
//!
//! Built without the `capture` cargo feature (no libpcap), the subcommand still parses and
//! explains how to get it, and which tcpdump pipeline does the same meanwhile.
//!
//! JSON added by this command (additions; schema_version unchanged):
//! - `inputs[0]`: `path` is the interface name, `format` is `"live"`; kernel drops add a
//!   warning there.
//! - `capture`, a report section (top level in the JSON document; with `--format jsonl`, a
//!   line `{"type":"capture",...}` before the closing `summary` line): `interface`, `link_type`, `filter` (null when none), `snaplen`,
//!   `promiscuous`, `stop_reason` (`duration` | `count` | `signal` | `error`: libpcap failed
//!   mid-capture, the report covers what came before and the exit status is 2), `elapsed_s`,
//!   `packets_captured`, `statistics` (`received`, `dropped_by_kernel`,
//!   `dropped_by_interface`; null when libpcap cannot tell), `files` (written with `-w`).

use crate::cli::{OutputArgs, parse_seconds};
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[cfg(feature = "capture")]
pub use with_libpcap::run;
#[cfg(not(feature = "capture"))]
pub use without_libpcap::run;

/// Shown after `kaprobe capture --help`.
pub const CAPTURE_EXAMPLES: &str = "Examples:
  kaprobe capture -i eth0 -f 'tcp port 443 or vrrp' --duration 10m -w ka.pcap
  kaprobe capture -i any --count 100000 --format jsonl | jq 'select(.code==\"rst-middlebox\")'
  kaprobe capture --list-interfaces";

/// Default snapshot length: tcpdump's, enough for any frame on common links.
pub const DEFAULT_SNAPLEN: u32 = 262_144;

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Interface to capture on; `any` captures on all (as Linux cooked SLL2). Default:
    /// libpcap's default device.
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// Capture filter, a tcpdump (pcap-filter) expression compiled by libpcap, e.g.
    /// 'tcp port 443 or vrrp'.
    #[arg(short = 'f', long, value_name = "EXPRESSION")]
    pub filter: Option<String>,
    /// Stop after this long (e.g. 30s, 10m, 2h). Default: until Ctrl-C or SIGTERM.
    #[arg(long, value_name = "DURATION", value_parser = parse_seconds)]
    pub duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Also write the raw capture to FILE (classic pcap), flushed as it goes.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// With -w: start a new file (for -w ka.pcap: ka.1.pcap, ka.2.pcap, ...) before one
    /// would exceed SIZE (bytes, or with a K/M/G suffix: 1024-based).
    #[arg(long, value_name = "SIZE", requires = "write", value_parser = parse_size)]
    pub rotate_size: Option<u64>,
    /// Bytes of each packet to keep.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SNAPLEN,
          value_parser = clap::value_parser!(u32).range(64..=DEFAULT_SNAPLEN as i64))]
    pub snaplen: u32,
    /// Do not put the interface into promiscuous mode (only traffic to and from this host,
    /// broadcast and joined multicast groups are seen).
    #[arg(short = 'p', long)]
    pub no_promisc: bool,
    /// Immediate mode: packets are delivered one by one as they arrive instead of in blocks
    /// (more responsive, more CPU).
    #[arg(long)]
    pub immediate: bool,
    /// Kernel capture buffer size (bytes, or with a K/M/G suffix). Raise it when drops are
    /// reported.
    #[arg(long, value_name = "SIZE", default_value = "8M", value_parser = parse_buffer_size)]
    pub buffer_size: u64,
    /// List the interfaces libpcap can capture on, and exit.
    #[arg(long)]
    pub list_interfaces: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub diagnosis: crate::cli::DiagnosisArgs,
}

/// Parses `4096`, `512K`, `64M`, `1G` (1024-based; a trailing `B`/`iB` is accepted) into bytes.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size (e.g. 4096, 512K, 64M, 1G)"))?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.trim_end_matches("IB").trim_end_matches('B');
    let multiplier: u64 = match unit {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{text}' (K, M or G)"
            ));
        }
    };
    let bytes = value
        .checked_mul(multiplier)
        .ok_or_else(|| format!("'{text}' is too large"))?;
    if bytes == 0 {
        return Err("a size must be above 0".into());
    }
    Ok(bytes)
}

/// libpcap takes the buffer size as a C int.
fn parse_buffer_size(text: &str) -> Result<u64, String> {
    let bytes = parse_size(text)?;
    if bytes > i32::MAX as u64 {
        return Err(format!("'{text}' is larger than libpcap accepts (2G - 1)"));
    }
    Ok(bytes)
}

/// The tcpdump pipeline that does what `kaprobe capture` does, for builds without libpcap.
pub fn tcpdump_equivalent(args: &CaptureArgs) -> String {
    let interface = args.interface.as_deref().unwrap_or("IFACE");
    let mut command = format!("tcpdump -i {} -U -w -", shell_quote(interface));
    if let Some(filter) = &args.filter {
        command.push(' ');
        command.push_str(&shell_quote(filter));
    }
    command.push_str(" | kaprobe analyze -");
    command
}

/// Single-quotes `text` for a POSIX shell unless it is plainly safe.
fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:@".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(not(feature = "capture"))]
mod without_libpcap {
    use super::{CaptureArgs, tcpdump_equivalent};
    use crate::run::Outcome;
    use anyhow::{Result, bail};

    pub fn run(args: CaptureArgs) -> Result<Outcome> {
        bail!(
            "this kaprobe was built without live capture (the cargo feature `capture`, which \
links libpcap). To get it:\n    apt-get install libpcap-dev && cargo build --release \
--features capture\nMeanwhile, capture with tcpdump and analyze from the pipe:\n    {}",
            tcpdump_equivalent(&args)
        )
    }
}

#[cfg(feature = "capture")]
mod with_libpcap {
    use super::CaptureArgs;
    use crate::analyze::Analysis;
    use crate::capture::live::{DropStatistics, LiveCapture, LiveOptions, list_interfaces};
    use crate::capture::rotate::RotatingWriter;
    use crate::capture::{InputSummary, RawPacket};
    use crate::cli::Format;
    use crate::config::AnalysisConfig;
    use crate::report::Summary;
    use crate::report::lines::LineOutput;
    use crate::run::{Outcome, outcome, render};
    use anyhow::{Context, Result, anyhow, bail};
    use indicatif::{ProgressBar, ProgressStyle};
    use serde_json::json;
    use std::io::{self, IsTerminal, Write};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::{Duration, Instant};

    /// libpcap returns at least this often, so stop conditions are checked in time.
    const READ_TIMEOUT_MS: u32 = 100;
    /// Status line and `-w` flush period.
    const REFRESH: Duration = Duration::from_millis(250);

    /// Set by the first SIGINT/SIGTERM/SIGHUP; the loop ends at its next turn.
    static STOP_REQUESTED: AtomicBool = AtomicBool::new(false);

    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    enum StopReason {
        Duration,
        Count,
        Signal,
        /// libpcap failed mid-capture (e.g. the interface went away): what was captured is
        /// still reported, then kaprobe exits with status 2.
        ReadError,
    }

    impl StopReason {
        fn name(self) -> &'static str {
            match self {
                StopReason::Duration => "duration",
                StopReason::Count => "count",
                StopReason::Signal => "signal",
                StopReason::ReadError => "error",
            }
        }
    }

    /// What the loop captured, for the report and the closing message.
    struct Captured {
        input: InputSummary,
        stop_reason: StopReason,
        elapsed: Duration,
        statistics: Option<DropStatistics>,
        files: Vec<PathBuf>,
    }

    pub fn run(args: CaptureArgs) -> Result<Outcome> {
        if args.list_interfaces {
            return print_interfaces(args.output.format);
        }
        if args.write.as_deref() == Some(std::path::Path::new("-")) {
            bail!(
                "-w - is not supported: the report goes to stdout (use a file, or tcpdump -w - | kaprobe analyze -)"
            );
        }
        let deadline = match args.duration {
            Some(seconds) => Some(Duration::try_from_secs_f64(seconds).map_err(|_| {
                anyhow!("--duration {seconds}s is not a duration kaprobe can wait for")
            })?),
            None => None,
        };
        install_signal_handler()?;
        let mut capture = LiveCapture::open(&live_options(&args))?;
        if !args.output.quiet {
            eprintln!(
                "kaprobe: capturing on {} ({}), filter: {}; stop with Ctrl-C",
                capture.interface,
                capture.link_type.name(),
                args.filter.as_deref().unwrap_or("none")
            );
        }
        let mut writer = match &args.write {
            Some(path) => Some(
                RotatingWriter::create(
                    path,
                    capture.link_number,
                    capture.snaplen,
                    args.rotate_size,
                )
                .with_context(|| format!("creating {}", path.display()))?,
            ),
            None => None,
        };
        let stream = match args.output.format {
            // Stdout is line-buffered: each finding reaches the pipe as it is found.
            Format::Jsonl => Some(LineOutput::inline(Box::new(io::stdout()))),
            _ => None,
        };
        let mut analysis = Analysis::new(analysis_config(&args), stream);
        let status = status_line(&args);
        let wakeup = capture.wake_every(Duration::from_millis(u64::from(READ_TIMEOUT_MS)))?;
        let captured = capture_loop(
            &args,
            deadline,
            &mut capture,
            &mut writer,
            &mut analysis,
            &status,
        );
        drop(wakeup);
        status.finish_and_clear();
        let files = match writer {
            Some(writer) => {
                let path = writer.current_path().to_path_buf();
                writer
                    .finish()
                    .with_context(|| format!("writing {}", path.display()))?
            }
            None => Vec::new(),
        };
        let mut captured = captured?;
        captured.statistics = capture.statistics();
        captured.files = files;
        drop(capture);
        finish(args, analysis, captured)
    }

    fn live_options(args: &CaptureArgs) -> LiveOptions {
        LiveOptions {
            interface: args.interface.clone(),
            filter: args.filter.clone(),
            snaplen: args.snaplen,
            promiscuous: !args.no_promisc,
            immediate: args.immediate,
            buffer_bytes: u32::try_from(args.buffer_size).unwrap_or(u32::MAX),
            read_timeout_ms: READ_TIMEOUT_MS,
        }
    }

    fn analysis_config(args: &CaptureArgs) -> AnalysisConfig {
        args.diagnosis.config(&args.output)
    }

    /// The ctrlc crate runs the handler on its own thread, so the handler may do anything;
    /// with its `termination` feature it also covers SIGTERM and SIGHUP.
    fn install_signal_handler() -> Result<()> {
        ctrlc::set_handler(|| {
            if STOP_REQUESTED.swap(true, Ordering::SeqCst) {
                eprintln!("kaprobe: interrupted again, exiting without a report");
                std::process::exit(130);
            }
        })
        .context("installing the Ctrl-C/SIGTERM handler")
    }

    fn capture_loop(
        args: &CaptureArgs,
        deadline: Option<Duration>,
        capture: &mut LiveCapture,
        writer: &mut Option<RotatingWriter>,
        analysis: &mut Analysis,
        status: &ProgressBar,
    ) -> Result<Captured> {
        let started = Instant::now();
        let mut input = InputSummary {
            path: capture.interface.clone(),
            format: "live".into(),
            ..InputSummary::default()
        };
        input.note_link_type(capture.link_type);
        let mut packet = RawPacket::default();
        let mut last_refresh = started;
        let stop_reason = loop {
            if STOP_REQUESTED.load(Ordering::SeqCst) {
                break StopReason::Signal;
            }
            if deadline.is_some_and(|limit| started.elapsed() >= limit) {
                break StopReason::Duration;
            }
            if args.count.is_some_and(|limit| input.packets >= limit) {
                break StopReason::Count;
            }
            let delivered = match capture.next_packet(&mut packet) {
                Ok(delivered) => delivered,
                Err(error) => {
                    input.warn(format!("{error:#}; the capture stopped there"));
                    break StopReason::ReadError;
                }
            };
            if delivered {
                input.count_packet(&packet.frame());
                if let Some(writer) = writer.as_mut() {
                    writer
                        .write(&packet)
                        .with_context(|| format!("writing {}", writer.current_path().display()))?;
                }
                analysis.process(&packet.frame());
            }
            if let Some(error) = analysis.stream_error() {
                return Err(anyhow::Error::new(error).context("writing the JSON lines output"));
            }
            if last_refresh.elapsed() >= REFRESH {
                last_refresh = Instant::now();
                refresh_status(status, analysis);
                if let Some(writer) = writer.as_mut() {
                    writer
                        .flush()
                        .with_context(|| format!("writing {}", writer.current_path().display()))?;
                }
            }
        };
        Ok(Captured {
            input,
            stop_reason,
            elapsed: started.elapsed(),
            statistics: None,
            files: Vec::new(),
        })
    }

    fn finish(args: CaptureArgs, analysis: Analysis, mut captured: Captured) -> Result<Outcome> {
        if let Some(statistics) = captured.statistics
            && statistics.dropped_by_kernel > 0
        {
            captured.input.warn(format!(
                "the kernel dropped {} packets (buffer full): the analysis is missing them; raise --buffer-size (now {} bytes) or narrow the filter",
                statistics.dropped_by_kernel, args.buffer_size
            ));
        }
        if !args.output.quiet {
            eprintln!("kaprobe: {}", closing_message(&captured));
        }
        let section = capture_section(&args, &captured);
        if args.output.format == Format::Jsonl {
            write_capture_line(&section)?;
        }
        let mut report = analysis
            .finish(vec![captured.input])
            .map_err(|error| anyhow::Error::new(error).context("writing the JSON lines output"))?;
        report
            .sections
            .insert("capture", crate::detect::Section::Value(section));
        render(
            &report,
            &args.output,
            &args.diagnosis,
            crate::cli::thread_count(0),
        )?;
        if captured.stop_reason == StopReason::ReadError {
            bail!(
                "the capture on {} ended early (see the warning in the report, which covers what was captured until then)",
                report
                    .inputs
                    .first()
                    .map_or("?", |input| input.path.as_str())
            );
        }
        Ok(outcome(&report.summary, &args.output))
    }

    fn closing_message(captured: &Captured) -> String {
        let mut message = format!(
            "stopped by {} after {:.1}s: {} packets captured",
            captured.stop_reason.name(),
            captured.elapsed.as_secs_f64(),
            captured.input.packets
        );
        if let Some(statistics) = captured.statistics {
            message.push_str(&format!(
                ", {} received by filter, {} dropped by kernel, {} dropped by interface",
                statistics.received, statistics.dropped_by_kernel, statistics.dropped_by_interface
            ));
        }
        for file in &captured.files {
            message.push_str(&format!("; wrote {}", file.display()));
        }
        message
    }

    fn capture_section(args: &CaptureArgs, captured: &Captured) -> serde_json::Value {
        json!({
            "interface": captured.input.path,
            "link_type": captured.input.link_types.first(),
            "filter": args.filter,
            "snaplen": args.snaplen,
            "promiscuous": !args.no_promisc,
            "stop_reason": captured.stop_reason.name(),
            "elapsed_s": crate::report::round_micros(captured.elapsed.as_secs_f64()),
            "packets_captured": captured.input.packets,
            "statistics": captured.statistics,
            "files": captured.files,
        })
    }

    fn write_capture_line(section: &serde_json::Value) -> Result<()> {
        let mut line = section.clone();
        if let Some(object) = line.as_object_mut() {
            object.insert("type".into(), json!("capture"));
        }
        let mut out = io::stdout().lock();
        serde_json::to_writer(&mut out, &line)
            .map_err(io::Error::from)
            .and_then(|()| out.write_all(b"\n"))
            .context("writing the JSON lines output")
    }

    /// Shown only on a terminal, and not when JSON lines go to the same terminal.
    fn status_line(args: &CaptureArgs) -> ProgressBar {
        let jsonl_on_terminal = args.output.format == Format::Jsonl && io::stdout().is_terminal();
        if args.output.quiet || jsonl_on_terminal || !io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {elapsed} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        )
    }

    fn refresh_status(status: &ProgressBar, analysis: &Analysis) {
        if status.is_hidden() {
            return;
        }
        status.set_message(status_text(
            &analysis.summary(),
            analysis.open_connections(),
        ));
        status.tick();
    }

    fn status_text(summary: &Summary, open_connections: usize) -> String {
        let findings = &summary.findings;
        let total_findings = findings.error + findings.warning + findings.info;
        let mut text = format!(
            "{} packets · {} connections ({} open) · {} keepalive probes · {} RSTs · {} VRRP adverts · {} findings",
            summary.packets,
            summary.tcp_connections + open_connections as u64,
            open_connections,
            summary.keepalive_probes,
            summary.rsts,
            summary.vrrp_adverts,
            total_findings,
        );
        if findings.error + findings.warning > 0 {
            text.push_str(&format!(
                " ({} errors, {} warnings)",
                findings.error, findings.warning
            ));
        }
        text
    }

    fn print_interfaces(format: Format) -> Result<Outcome> {
        let interfaces = list_interfaces()?;
        let stdout = io::stdout();
        let mut out = io::BufWriter::new(stdout.lock());
        if format == Format::Table {
            for interface in &interfaces {
                let mut flags = Vec::new();
                if interface.up {
                    flags.push("up");
                }
                if interface.running {
                    flags.push("running");
                }
                if interface.loopback {
                    flags.push("loopback");
                }
                let addresses: Vec<String> = interface
                    .addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect();
                writeln!(
                    out,
                    "{}\t[{}]\t{}\t{}",
                    interface.name,
                    flags.join(","),
                    addresses.join(" "),
                    interface.description.as_deref().unwrap_or("")
                )?;
            }
        } else {
            serde_json::to_writer_pretty(&mut out, &interfaces)?;
            writeln!(out)?;
        }
        out.flush()?;
        Ok(Outcome::Clean)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn status_text_counts_open_connections_with_ended_ones() {
            let mut summary = Summary {
                packets: 120,
                tcp_connections: 3,
                keepalive_probes: 7,
                rsts: 2,
                vrrp_adverts: 40,
                ..Summary::default()
            };
            summary.findings.warning = 1;
            let text = status_text(&summary, 2);
            assert!(text.contains("120 packets"), "{text}");
            assert!(text.contains("5 connections (2 open)"), "{text}");
            assert!(text.contains("7 keepalive probes"), "{text}");
            assert!(text.contains("2 RSTs"), "{text}");
            assert!(text.contains("40 VRRP adverts"), "{text}");
            assert!(
                text.ends_with("1 findings (0 errors, 1 warnings)"),
                "{text}"
            );
            summary.findings.warning = 0;
            summary.findings.info = 2;
            assert!(status_text(&summary, 0).ends_with("· 2 findings"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_suffixes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 * 1024));
        assert_eq!(parse_size("64M"), Ok(64 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_size("2mb"), Ok(2 << 20));
        assert!(parse_size("0").is_err());
        assert!(parse_size("12T").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999999999G").is_err());
        assert!(parse_buffer_size("4G").is_err());
    }

    #[test]
    fn the_tcpdump_pipeline_quotes_the_filter() {
        let args = CaptureArgs {
            interface: Some("eth0".into()),
            filter: Some("tcp port 443 or vrrp".into()),
            ..test_args()
        };
        assert_eq!(
            tcpdump_equivalent(&args),
            "tcpdump -i eth0 -U -w - 'tcp port 443 or vrrp' | kaprobe analyze -"
        );
        let quoted = tcpdump_equivalent(&CaptureArgs {
            filter: Some("host it's".into()),
            ..test_args()
        });
        assert_eq!(
            quoted,
            "tcpdump -i IFACE -U -w - 'host it'\\''s' | kaprobe analyze -"
        );
    }

    fn test_args() -> CaptureArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: CaptureArgs,
        }
        Wrapper::parse_from(["kaprobe"]).args
    }
}
