//! Runs a parsed command line: opens inputs, drives the analysis, renders the report and
//! decides the exit status (0 fine, 1 a finding reached --fail-on, 2 usage or input error).

use crate::analyze::{Analysis, Finished, parallel};
use crate::capture::file::CaptureReader;
use crate::capture::merge::InputSet;
use crate::capture::prefetch;
use crate::capture::{Frame, RawPacket};
use crate::cli::{AnalyzeArgs, Cli, ColorChoice, Command, DiagnosisArgs, Format, OutputArgs};
use crate::config::AnalysisConfig;
use crate::report::lines::LineOutput;
use crate::report::{self, Report, Severity, Summary};
use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{self, IsTerminal, Write};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What `main` turns into a process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    FindingsReachedThreshold,
}

pub fn run(cli: Cli) -> Result<Outcome> {
    match cli.command {
        Command::Analyze(args) => analyze(args),
        Command::Sysctl { command } => crate::host::run_sysctl(command),
        Command::Sockets(args) => crate::host::run_sockets(args),
        Command::Explain(args) => crate::explain::run(args),
        Command::Generate(args) => crate::generate::run(args),
        Command::Capture(args) => crate::live::run(args),
    }
}

fn analyze(args: AnalyzeArgs) -> Result<Outcome> {
    if args.files.iter().filter(|f| f.as_str() == "-").count() > 1 {
        bail!("stdin ('-') can be given only once");
    }
    if args.files.len() > usize::from(u16::MAX) {
        bail!(
            "too many inputs ({}); at most {}",
            args.files.len(),
            u16::MAX
        );
    }
    let readers = args
        .files
        .iter()
        .enumerate()
        .map(|(index, path)| CaptureReader::open(path, index as u16))
        .collect::<Result<Vec<_>>>()?;
    let config = analysis_config(&args);
    let threads = config.threads;
    // With more than one thread, JSON lines are written on a thread of their own.
    let writer_thread = args.output.format == Format::Jsonl && threads > 1;
    crate::memory::limit_malloc_arenas(threads, writer_thread);
    let stream = match args.output.format {
        Format::Jsonl => {
            let out = io::BufWriter::with_capacity(OUTPUT_BUFFER_BYTES, io::stdout());
            Some(if writer_thread {
                LineOutput::threaded(Box::new(out))
            } else {
                LineOutput::inline(Box::new(out))
            })
        }
        _ => None,
    };
    let report = analyze_inputs(readers, config, stream, args.output.quiet, threads)?;
    render(&report, &args.output, &args.diagnosis, threads)?;
    let outcome = outcome(&report.summary, &args.output);
    // The process ends right after: freeing a report of millions of records one allocation
    // at a time cost 4 % of a whole run, and the operating system reclaims it at once.
    std::mem::forget(report);
    Ok(outcome)
}

/// stdout is line-buffered; a large buffer in front of it turns many small writes into few.
const OUTPUT_BUFFER_BYTES: usize = 256 << 10;

fn analysis_config(args: &AnalyzeArgs) -> AnalysisConfig {
    AnalysisConfig {
        hosts: args.hosts.clone(),
        ports: args.ports.clone(),
        input_count: args.files.len(),
        one_vantage: args.one_vantage,
        threads: crate::cli::thread_count(args.threads),
        ..args.diagnosis.config(&args.output)
    }
}

/// Reads every input to the end and returns the report.
pub fn analyze_inputs(
    readers: Vec<CaptureReader>,
    config: AnalysisConfig,
    stream: Option<LineOutput>,
    quiet: bool,
    threads: usize,
) -> Result<Report> {
    let progress = progress_bar(&readers, quiet);
    let mut inputs = InputSet::new(readers);
    // Written by the analysis, read by whichever thread draws the progress bar.
    let open_connections = AtomicUsize::new(0);
    let report_progress = |inputs: &InputSet| {
        if let Some(bar) = &progress {
            update_progress(bar, inputs, open_connections.load(Ordering::Relaxed));
        }
    };
    let finished = if threads >= MIN_THREADS_TO_SHARD {
        // One thread reads; the others analyze.
        parallel::analyze(
            &mut inputs,
            config,
            stream,
            threads - 1,
            &open_connections,
            &report_progress,
        )
    } else {
        analyze_in_one_thread(
            &mut inputs,
            config,
            stream,
            threads,
            &open_connections,
            &report_progress,
        )
    };
    if finished.stream_error.is_none()
        && let Some(bar) = progress
    {
        bar.finish_and_clear();
    }
    finished
        .report(input_summaries(inputs))
        .or_else(stream_failed)
}

/// `--threads` 1 and 2: the analysis on this thread, reading on it too or on another.
fn analyze_in_one_thread(
    inputs: &mut InputSet,
    config: AnalysisConfig,
    stream: Option<LineOutput>,
    threads: usize,
    open_connections: &AtomicUsize,
    report_progress: &(dyn Fn(&InputSet) + Sync),
) -> Finished {
    let mut analysis = Analysis::new(config, stream);
    let mut stream_error = None;
    let mut since_check = 0u32;
    let mut process = |frame: &Frame<'_>| {
        analysis.process(frame);
        since_check += 1;
        if since_check == CHECK_EVERY_FRAMES {
            since_check = 0;
            if let Some(error) = analysis.stream_error() {
                stream_error = Some(error);
                return ControlFlow::Break(());
            }
            open_connections.store(analysis.open_connections(), Ordering::Relaxed);
        }
        ControlFlow::Continue(())
    };
    if threads > 1 {
        prefetch::read_ahead(inputs, report_progress, &mut process);
    } else {
        read_in_turn(inputs, report_progress, &mut process);
    }
    analysis.end(stream_error)
}

/// From this many threads on, connections are analyzed on `threads - 1` shards
/// (`analyze::parallel`); below, one thread analyzes while another reads.
pub const MIN_THREADS_TO_SHARD: usize = 3;

fn input_summaries(inputs: InputSet) -> Vec<crate::capture::InputSummary> {
    inputs
        .into_readers()
        .into_iter()
        .map(|reader| reader.summary)
        .collect()
}

/// Frames between looks at the output stream's health and the progress bar.
const CHECK_EVERY_FRAMES: u32 = 8192;

/// `--threads 1`: read and analyze in turn on this thread.
fn read_in_turn(
    inputs: &mut InputSet,
    report_progress: &dyn Fn(&InputSet),
    process: &mut dyn FnMut(&Frame<'_>) -> ControlFlow<()>,
) {
    let mut packet = RawPacket::default();
    let mut frames = 0u32;
    while inputs.next_packet(&mut packet) {
        if process(&packet.frame()).is_break() {
            return;
        }
        frames = frames.wrapping_add(1);
        if frames.is_multiple_of(CHECK_EVERY_FRAMES) {
            report_progress(inputs);
        }
    }
}

fn stream_failed(error: io::Error) -> Result<Report> {
    Err(anyhow::Error::new(error).context("writing the JSON lines output"))
}

fn progress_bar(readers: &[CaptureReader], quiet: bool) -> Option<ProgressBar> {
    if quiet || !io::stderr().is_terminal() {
        return None;
    }
    let total: Option<u64> = readers.iter().map(|r| r.total_bytes).sum();
    let bar = match total {
        Some(total) => ProgressBar::new(total).with_style(
            ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {bytes} read {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    Some(bar)
}

fn update_progress(bar: &ProgressBar, inputs: &InputSet, open_connections: usize) {
    let read: u64 = inputs
        .readers()
        .iter()
        .map(|r| r.bytes_read.load(Ordering::Relaxed))
        .sum();
    bar.set_position(read);
    bar.set_message(format!("{open_connections} open connections"));
}

/// Writes the report to stdout; `threads` render `--format json` in parallel.
pub fn render(
    report: &Report,
    output: &OutputArgs,
    diagnosis: &DiagnosisArgs,
    threads: usize,
) -> Result<()> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(OUTPUT_BUFFER_BYTES, stdout.lock());
    match output.format {
        Format::Jsonl => return Ok(()),
        Format::Json => report::json::write_document(report, &mut out, threads)
            .context("writing the JSON report")?,
        Format::Table => {
            let options = report::table::TableOptions {
                color: use_color(output.color),
                width: terminal_width(),
                timeline: diagnosis.timeline,
                findings_per_code: diagnosis.findings_per_code,
            };
            report::table::write_report(report, &options, &mut out)
                .context("writing the report")?;
        }
    }
    out.flush().context("writing the report")
}

pub fn use_color(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
        }
    }
}

/// The terminal's width (COLUMNS, else 160), or None when stdout is not a terminal.
pub fn terminal_width() -> Option<u16> {
    if !io::stdout().is_terminal() {
        return None;
    }
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .or(Some(report::table::PIPE_WIDTH))
}

pub fn outcome(summary: &Summary, output: &OutputArgs) -> Outcome {
    let Some(threshold) = output.fail_on.threshold() else {
        return Outcome::Clean;
    };
    let counts = &summary.findings;
    let worst = if counts.error > 0 {
        Some(Severity::Error)
    } else if counts.warning > 0 {
        Some(Severity::Warning)
    } else if counts.info > 0 {
        Some(Severity::Info)
    } else {
        None
    };
    match worst {
        Some(worst) if worst >= threshold => Outcome::FindingsReachedThreshold,
        _ => Outcome::Clean,
    }
}
