//! Command-line definitions (clap derive). Each flag is documented where it is defined; the
//! first doc line is the short help, the rest the long help (and the man page).

use crate::report::Severity;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::IpAddr;

#[derive(Debug, Parser)]
#[command(
    name = "kaprobe",
    version,
    about = "Diagnose TCP keepalive, HTTP keep-alive and keepalived/VRRP problems from packet captures",
    long_about = "kaprobe reads packet captures (or a live interface) and explains the three \
\"keepalives\" people confuse: TCP keepalive probes sent by the kernel, HTTP keep-alive \
(persistent connections), and keepalived's VRRP adverts. It reports findings with evidence \
and the exact setting to change."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze capture files (pcap, pcapng, gzip of either, or - for stdin).
    #[command(after_help = ANALYZE_EXAMPLES)]
    Analyze(AnalyzeArgs),
    /// Capture from a live interface (libpcap) and analyze while capturing.
    #[command(after_help = crate::live::CAPTURE_EXAMPLES)]
    Capture(crate::live::CaptureArgs),
    /// Check this host's TCP keepalive sysctls against the devices it sits behind.
    #[command(after_help = SYSCTL_EXAMPLES)]
    Sysctl {
        #[command(subcommand)]
        command: crate::host::cli::SysctlCommand,
    },
    /// List this host's TCP sockets with their keepalive timers and owners.
    #[command(after_help = SOCKETS_EXAMPLES)]
    Sockets(crate::host::cli::SocketsArgs),
    /// Explain a finding code: what it means, why it happens, what to do.
    #[command(after_help = crate::explain::EXAMPLES)]
    Explain(crate::explain::ExplainArgs),
    /// Write the man pages, shell completions and docs/findings.md (for maintainers).
    #[command(hide = true)]
    Generate(crate::generate::GenerateArgs),
}

const ANALYZE_EXAMPLES: &str = "Examples:
  kaprobe analyze client.pcap server.pcap --idle-threshold 5s --timeline
  kaprobe analyze capture.pcapng.gz --format json | jq '.findings[] | {code, subject, advice}'
  tcpdump -i eth0 -w - 'tcp port 80 or vrrp' | kaprobe analyze -";

const SYSCTL_EXAMPLES: &str = "Examples:
  kaprobe sysctl check --middlebox aws-nlb
  kaprobe sysctl check --middlebox-timeout 5m --format json | jq -r '.advice.commands[]'
  kaprobe sysctl check --list-middleboxes";

const SOCKETS_EXAMPLES: &str = "Examples:
  kaprobe sockets --established --no-keepalive
  kaprobe sockets --format json | jq '.sockets[] | select(.process.name == \"nginx\")'
  sudo kaprobe sockets --netns blue";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Findings table and summary for people.
    Table,
    /// One JSON document (schema: docs/json.md).
    Json,
    /// One JSON object per line, streamed as the analysis goes.
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Info,
    Warning,
    Error,
    /// Always exit 0 unless kaprobe itself failed.
    Never,
}

impl FailOn {
    pub fn threshold(self) -> Option<Severity> {
        match self {
            FailOn::Info => Some(Severity::Info),
            FailOn::Warning => Some(Severity::Warning),
            FailOn::Error => Some(Severity::Error),
            FailOn::Never => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when writing to a terminal and NO_COLOR is not set.
    Auto,
    Always,
    Never,
}

/// Options shared by every subcommand that prints a report.
#[derive(Debug, Args, Clone)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Exit with status 1 when a finding of this severity or worse is reported.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// When to use colours in the table.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// No progress bar on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files to analyze; several are merged by timestamp. `-` reads stdin.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<String>,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub diagnosis: DiagnosisArgs,
    /// Analyze only packets from or to this address (repeatable).
    #[arg(long = "host", value_name = "IP")]
    pub hosts: Vec<IpAddr>,
    /// Analyze only TCP packets from or to this port (repeatable).
    #[arg(long = "port", value_name = "N")]
    pub ports: Vec<u16>,
    /// The files are consecutive parts of one capture (kaprobe capture --rotate-size,
    /// tcpdump -C/-G): connections continue from one file to the next. Without it, each file
    /// is a separate vantage point and the same connection in two files is compared.
    #[arg(long)]
    pub one_vantage: bool,
    /// Threads to use; 0 (the default) means one more than the cores, at most 8. With 2, one
    /// thread reads while another analyzes; from 3 on, one reads and the others analyze
    /// connections sharded by their tuple, and JSON is rendered on several. The report is the
    /// same whatever the number.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
}

/// `--threads`: 0 means [`default_threads`] for the cores the OS reports.
pub fn thread_count(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    default_threads(std::thread::available_parallelism().map_or(1, usize::from))
}

/// Past this many threads by default, more shards cannot go faster: on the 48 MiB benchmark
/// capture each of 7 shards executes about 91 M instructions, the reader thread (serial, one
/// for all shards) 88 M. And threads past it cost memory: a malloc arena per four
/// (src/memory.rs). With 17 threads the 1 GiB benchmark capture peaked at 69 MiB (`--format
/// jsonl`), against 53–60 MiB with 3 and 55–58 MiB with 8; the bar there is 65.8 MiB
/// (docs/performance.md, twelfth pass).
pub const MAX_DEFAULT_THREADS: usize = 8;

/// One thread more than `cores`, at most [`MAX_DEFAULT_THREADS`]; 1 on one core. From 3
/// threads the analysis is sharded, and the reader and the merger are light (about a tenth of
/// the work each), so `cores` shards keep every core busy. With 2 threads on 2 cores one
/// analysis thread did all but the reading: 3.06 s on the 1 GiB benchmark capture, against
/// 2.30 s with 3.
pub fn default_threads(cores: usize) -> usize {
    if cores <= 1 {
        1
    } else {
        (cores + 1).min(MAX_DEFAULT_THREADS)
    }
}

/// How a capture is diagnosed and reported: shared by `analyze` and `capture`.
#[derive(Debug, Args, Clone)]
pub struct DiagnosisArgs {
    /// Print, for each connection or VRRP group with a finding, its chronological timeline.
    #[arg(long)]
    pub timeline: bool,
    /// With --timeline: timelines for every connection, not only those with findings.
    #[arg(long, requires = "timeline")]
    pub all: bool,
    /// Report connections idle at least this long without keepalive (e.g. 60s, 1.5m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_seconds)]
    pub idle_threshold: f64,
    /// Idle timeout of a device on the path (load balancer, firewall, NAT); repeatable.
    /// Advice is computed from the smallest.
    #[arg(long = "middlebox-timeout", value_name = "DURATION", value_parser = parse_seconds)]
    pub middlebox_timeouts: Vec<f64>,
    /// Show secrets (Authorization, Cookie, query strings, VRRP passwords) instead of redacting.
    #[arg(long)]
    pub show_secrets: bool,
    /// Track at most this many connections at once; the least recently active are finished
    /// early past it (a warning says so).
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub max_connections: usize,
    /// Table: list at most N findings of each code, the earliest; a line under the table
    /// counts the others. 0 lists all. JSON always lists every finding.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub findings_per_code: usize,
}

impl DiagnosisArgs {
    /// The analysis settings these flags give for `output`; input-specific ones are left at
    /// their defaults.
    pub fn config(&self, output: &OutputArgs) -> crate::config::AnalysisConfig {
        let table = output.format == Format::Table;
        let mut config = crate::config::AnalysisConfig {
            idle_threshold_secs: self.idle_threshold,
            middlebox_timeouts_secs: self.middlebox_timeouts.clone(),
            show_secrets: self.show_secrets,
            keep_timelines: self.timeline,
            timeline_all: self.all,
            records: crate::config::RecordsKept::for_output(output.format, self.timeline),
            findings_per_code: (table && self.findings_per_code > 0)
                .then_some(self.findings_per_code),
            ..crate::config::AnalysisConfig::default()
        };
        config.tracker.max_connections = self.max_connections.max(1);
        config
    }
}

/// Parses `250ms`, `90s`, `1.5m`, `2h` into seconds.
pub fn parse_seconds(text: &str) -> Result<f64, String> {
    crate::time::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_threads_shard_over_every_core_up_to_eight() {
        let threads: Vec<usize> = [1, 2, 3, 4, 7, 8, 16, 64].map(default_threads).to_vec();
        assert_eq!(threads, vec![1, 3, 4, 5, 8, 8, 8, 8]);
        assert_eq!(thread_count(5), 5, "an explicit count is kept");
    }
}
