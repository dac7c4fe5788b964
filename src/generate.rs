//! `kaprobe generate` (hidden, for maintainers): writes the man pages (`man/`, roff via
//! clap_mangen), the shell completions (`completions/`, clap_complete) and
//! `docs/findings.md` (from the `explain` catalog), all from the current command-line
//! definitions. The files are committed; `tests/generated.rs` regenerates them and fails when
//! they differ, printing [`REGENERATE`].
//!
//! Output is byte-for-byte reproducible: no dates, no paths, subcommands in definition order.
//! The man pages are clap_mangen's sections plus hand-written EXAMPLES, EXIT STATUS,
//! ENVIRONMENT and SEE ALSO sections kept here, per page.

use crate::cli::Cli;
use crate::run::Outcome;
use anyhow::{Context, Result};
use clap::{Args, CommandFactory, Subcommand};
use clap_complete::Shell;
use clap_mangen::Man;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// The one command that regenerates every committed generated file, from the repository root.
pub const REGENERATE: &str = "cargo run -- generate all";

#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: Generated,
}

#[derive(Debug, Subcommand)]
pub enum Generated {
    /// Man pages: kaprobe.1 and one per subcommand (kaprobe-sysctl-check.1, ...).
    Man {
        #[arg(long, value_name = "DIR", default_value = "man")]
        dir: PathBuf,
    },
    /// Completion scripts for bash, zsh, fish, PowerShell and elvish.
    Completions {
        #[arg(long, value_name = "DIR", default_value = "completions")]
        dir: PathBuf,
    },
    /// docs/findings.md from the `kaprobe explain` catalog.
    Findings {
        #[arg(long, value_name = "FILE", default_value = "docs/findings.md")]
        file: PathBuf,
    },
    /// All of the above, under DIR/man, DIR/completions and DIR/docs/findings.md.
    All {
        #[arg(long, value_name = "DIR", default_value = ".")]
        root: PathBuf,
    },
}

pub fn run(args: GenerateArgs) -> Result<Outcome> {
    match args.what {
        Generated::Man { dir } => write_man_pages(&dir)?,
        Generated::Completions { dir } => write_completions(&dir)?,
        Generated::Findings { file } => write_findings(&file)?,
        Generated::All { root } => {
            write_man_pages(&root.join("man"))?;
            write_completions(&root.join("completions"))?;
            write_findings(&root.join("docs").join("findings.md"))?;
        }
    }
    Ok(Outcome::Clean)
}

/// A generated file: its name inside its directory and its bytes.
pub type GeneratedFile = (String, Vec<u8>);

fn write_files(dir: &Path, files: &[GeneratedFile]) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (name, bytes) in files {
        let path = dir.join(name);
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn write_man_pages(dir: &Path) -> Result<()> {
    let pages = man_pages().context("rendering the man pages")?;
    remove_stale_pages(dir, &pages)?;
    write_files(dir, &pages)
}

/// Pages of subcommands that no longer exist would otherwise linger in `man/`.
fn remove_stale_pages(dir: &Path, pages: &[GeneratedFile]) -> Result<()> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("kaprobe") && name.ends_with(".1");
        if ours && !pages.iter().any(|(page, _)| *page == name) {
            fs::remove_file(entry.path())
                .with_context(|| format!("removing {}", entry.path().display()))?;
        }
    }
    Ok(())
}

fn write_completions(dir: &Path) -> Result<()> {
    write_files(dir, &completions())
}

fn write_findings(file: &Path) -> Result<()> {
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::write(file, findings_markdown()).with_context(|| format!("writing {}", file.display()))
}

/// `docs/findings.md`.
pub fn findings_markdown() -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = crate::explain::write_markdown(&mut out);
    out
}

/// One completion script per shell, named as each shell looks for it.
pub fn completions() -> Vec<GeneratedFile> {
    [
        Shell::Bash,
        Shell::Zsh,
        Shell::Fish,
        Shell::PowerShell,
        Shell::Elvish,
    ]
    .into_iter()
    .map(|shell| {
        let mut command = visible_command();
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut command, "kaprobe", &mut script);
        (
            clap_complete::Generator::file_name(&shell, "kaprobe"),
            script,
        )
    })
    .collect()
}

/// The command line without hidden subcommands, which clap_complete would otherwise offer
/// (clap_mangen skips them by itself).
fn visible_command() -> clap::Command {
    let full = Cli::command();
    clap::Command::new("kaprobe")
        .version(env!("CARGO_PKG_VERSION"))
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned())
}

/// `kaprobe.1` and a page per visible subcommand, nested ones included.
pub fn man_pages() -> io::Result<Vec<GeneratedFile>> {
    let mut root = Cli::command().disable_help_subcommand(true);
    // Building names the subcommands `kaprobe-sysctl-check` (page) and `kaprobe sysctl
    // check` (synopsis).
    root.build();
    let mut pages = Vec::new();
    collect_pages(&root, &mut pages)?;
    Ok(pages)
}

fn collect_pages(command: &clap::Command, pages: &mut Vec<GeneratedFile>) -> io::Result<()> {
    pages.push(man_page(command)?);
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect_pages(sub, pages)?;
    }
    Ok(())
}

fn man_page(command: &clap::Command) -> io::Result<GeneratedFile> {
    // The footer names the package version on every page, not just the root's.
    let man = Man::new(command.clone()).source(format!("kaprobe {}", env!("CARGO_PKG_VERSION")));
    let file_name = man.get_filename();
    let page = file_name.trim_end_matches(".1").to_string();
    let mut out = Vec::new();
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    if command.get_subcommands().any(|s| !s.is_hide_set()) {
        man.render_subcommands_section(&mut out)?;
    }
    write_examples(&page, &mut out)?;
    write_exit_status(&page, &mut out)?;
    if page == "kaprobe-explain" {
        write_code_list(&mut out)?;
    }
    write_environment(&page, &mut out)?;
    write_see_also(&page, command, &mut out)?;
    if command.get_version().is_some() {
        man.render_version_section(&mut out)?;
    }
    Ok((file_name, out))
}

/// Escapes text for a roff text line: backslashes, hyphens (so they copy as ASCII minus), and
/// a leading control character.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with('.') || escaped.starts_with('\'') {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// Hand-written examples per page: (command line, what it does).
fn examples(page: &str) -> &'static [(&'static str, &'static str)] {
    match page {
        "kaprobe" => &[
            (
                "kaprobe analyze capture.pcap",
                "Findings table and summary for one capture.",
            ),
            (
                "kaprobe sysctl check --middlebox aws-nlb",
                "Are this host's keepalive settings shorter than the AWS NLB's 350 s idle timeout?",
            ),
            (
                "kaprobe explain rst-idle-timeout",
                "What a finding code means and what to do about it.",
            ),
        ],
        "kaprobe-analyze" => &[
            (
                "kaprobe analyze client.pcap server.pcap --idle-threshold 5s --timeline",
                "Merge captures from both ends by timestamp, report idle periods from 5 s on, and print the timeline of every connection with a finding.",
            ),
            (
                "kaprobe analyze capture.pcap --middlebox-timeout 350s",
                "Judge the keepalive timings seen against a device on the path that forgets idle connections after 350 s.",
            ),
            (
                "kaprobe analyze capture.pcapng.gz --format json | jq '.findings[] | {code, subject, advice}'",
                "The findings as JSON, filtered with jq.",
            ),
            (
                "tcpdump -i eth0 -w - 'tcp port 80 or vrrp' | kaprobe analyze -",
                "Analyze what tcpdump captures; the report is printed when tcpdump stops.",
            ),
            (
                "kaprobe analyze huge.pcap --format jsonl --fail-on warning",
                "Stream one JSON object per line with memory bounded by open connections; exit 1 when a warning or error is found.",
            ),
        ],
        "kaprobe-sysctl" | "kaprobe-sysctl-check" => &[
            (
                "kaprobe sysctl check --middlebox aws-nlb",
                "Check this host's keepalive settings against an AWS Network Load Balancer.",
            ),
            (
                "kaprobe sysctl check --middlebox-timeout 5m --format json | jq -r '.advice.commands[]'",
                "Print only the sysctl commands that fix the settings for a 5-minute idle timeout.",
            ),
            (
                "kaprobe sysctl check --root /tmp/sosreport-host1 --middlebox azure-lb",
                "Check the values saved in an unpacked sosreport.",
            ),
            (
                "sudo kaprobe sysctl check --netns blue --middlebox lvs",
                "Check the values of network namespace blue.",
            ),
            (
                "kaprobe sysctl check --list-middleboxes",
                "The known devices with their default idle timeouts and sources.",
            ),
        ],
        "kaprobe-sockets" => &[
            (
                "kaprobe sockets --established --no-keepalive",
                "Connections without a keepalive timer: those an idle-timeout middlebox would kill.",
            ),
            (
                "kaprobe sockets --format json | jq '.sockets[] | select(.process.name == \"nginx\")'",
                "The sockets of nginx processes as JSON (run as root to see every owner).",
            ),
            (
                "sudo kaprobe sockets --netns blue",
                "The sockets of network namespace blue.",
            ),
        ],
        "kaprobe-explain" => &[
            ("kaprobe explain rst-idle-timeout", "Explain one code."),
            (
                "kaprobe explain --list",
                "Every code with its severity and title.",
            ),
            (
                "kaprobe analyze capture.pcap --format json | jq -r '.findings[].code' | sort -u | xargs -n1 kaprobe explain",
                "Explain every code found in a capture.",
            ),
        ],
        "kaprobe-capture" => &[
            (
                "sudo kaprobe capture -i eth0 -f 'tcp port 443 or vrrp' --duration 10m",
                "Capture and analyze for ten minutes, then print the report.",
            ),
            (
                "sudo kaprobe capture -i any -w /var/tmp/kaprobe.pcap --rotate-size 100M",
                "Also keep the raw packets, in files of at most 100 MiB.",
            ),
            (
                "kaprobe capture --list-interfaces",
                "The interfaces libpcap can capture on.",
            ),
        ],
        _ => &[],
    }
}

fn write_examples(page: &str, out: &mut dyn Write) -> io::Result<()> {
    let examples = examples(page);
    if examples.is_empty() {
        return Ok(());
    }
    writeln!(out, ".SH EXAMPLES")?;
    for (command, what) in examples {
        writeln!(out, ".TP")?;
        writeln!(out, "\\fB{}\\fR", roff_text(command))?;
        writeln!(out, "{}", roff_text(what))?;
    }
    Ok(())
}

/// Exit statuses per page: (status, meaning).
fn exit_statuses(page: &str) -> &'static [(&'static str, &'static str)] {
    const REPORT: &[(&str, &str)] = &[
        ("0", "No finding reached \\-\\-fail\\-on (default error)."),
        ("1", "A finding reached \\-\\-fail\\-on."),
        (
            "2",
            "Usage or input error: a missing, empty or unreadable file, a bad option value.",
        ),
    ];
    match page {
        "kaprobe-sockets" => &[
            ("0", "The sockets were listed."),
            ("2", "Usage error, or /proc could not be read."),
        ],
        "kaprobe-explain" => &[
            ("0", "The code was explained (or listed)."),
            (
                "2",
                "Unknown code (the closest codes are suggested) or usage error.",
            ),
        ],
        _ => REPORT,
    }
}

fn write_exit_status(page: &str, out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, ".SH \"EXIT STATUS\"")?;
    for (status, meaning) in exit_statuses(page) {
        writeln!(out, ".TP")?;
        writeln!(out, "\\fB{status}\\fR")?;
        // Already escaped: the option names are written with \-.
        writeln!(out, "{meaning}")?;
    }
    Ok(())
}

fn write_code_list(out: &mut dyn Write) -> io::Result<()> {
    writeln!(out, ".SH \"FINDING CODES\"")?;
    for entry in crate::explain::CATALOG {
        writeln!(out, ".TP")?;
        writeln!(
            out,
            "\\fB{}\\fR ({})",
            roff_text(entry.code),
            entry.severity.name()
        )?;
        writeln!(out, "{}", roff_text(entry.title))?;
    }
    Ok(())
}

fn write_environment(page: &str, out: &mut dyn Write) -> io::Result<()> {
    if page == "kaprobe-explain" {
        return Ok(());
    }
    writeln!(out, ".SH ENVIRONMENT")?;
    writeln!(out, ".TP")?;
    writeln!(out, "\\fBNO_COLOR\\fR")?;
    writeln!(
        out,
        "{}",
        roff_text(
            "When set and not empty, --color auto (the default) prints no colours. Colours are also off when standard output is not a terminal or TERM is dumb; --color always overrides all three."
        )
    )?;
    writeln!(out, ".TP")?;
    writeln!(out, "\\fBCOLUMNS\\fR")?;
    writeln!(
        out,
        "{}",
        roff_text(
            "Table width on a terminal (default 160). Output that is not a terminal is always 160 columns wide."
        )
    )
}

fn write_see_also(page: &str, command: &clap::Command, out: &mut dyn Write) -> io::Result<()> {
    let mut references: Vec<String> = Vec::new();
    if page != "kaprobe" {
        references.push("kaprobe(1)".into());
    }
    references.extend(
        command
            .get_subcommands()
            .filter(|s| !s.is_hide_set())
            .map(|s| format!("{page}-{}(1)", s.get_name())),
    );
    if page != "kaprobe-explain" {
        references.push("kaprobe-explain(1)".into());
    }
    references.extend(
        ["tcpdump(8)", "tcp(7)", "keepalived.conf(5)"]
            .iter()
            .map(|r| r.to_string()),
    );
    writeln!(out, ".SH \"SEE ALSO\"")?;
    writeln!(out, "{}", roff_text(&references.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_text_escapes_what_roff_would_interpret() {
        assert_eq!(roff_text(".x a-b \\n"), "\\&.x a\\-b \\en");
        assert_eq!(roff_text("'quoted"), "\\&'quoted");
    }
}
