//! Colours: on for terminals, off for pipes, `--color always|never` override, and `NO_COLOR`
//! (non-empty) or `TERM=dumb` turn `auto` off, in every command that colours its output.
//! Terminals are real pseudo-terminals from script(1); those tests skip without it.

use assert_cmd::Command;
use std::path::Path;

const ESCAPE: &str = "\u{1b}[";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Commands whose table colours severities, each producing at least one finding.
fn coloured_commands() -> Vec<Vec<String>> {
    let capture = root().join("fixtures/lab/captures/tcp-keepalive-dead-peer.client.pcap");
    let procfs = root().join("fixtures/procfs/linux-defaults");
    vec![
        vec!["analyze".into(), capture.display().to_string(), "-q".into()],
        vec![
            "sysctl".into(),
            "check".into(),
            "--root".into(),
            procfs.display().to_string(),
            "--middlebox".into(),
            "aws-nlb".into(),
        ],
    ]
}

fn piped(args: &[String], extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut command = Command::cargo_bin("kaprobe").unwrap();
    command.env_remove("NO_COLOR").args(args).args(extra);
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().unwrap();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn pipes_get_no_colour_unless_always() {
    for args in coloured_commands() {
        let auto = piped(&args, &[], &[]);
        assert!(auto.contains("warning") || auto.contains("error"), "{auto}");
        assert!(!auto.contains(ESCAPE), "{args:?} coloured a pipe");
        assert!(!piped(&args, &["--color", "never"], &[]).contains(ESCAPE));
        let always = piped(&args, &["--color", "always"], &[]);
        assert!(
            always.contains(ESCAPE),
            "{args:?} --color always has no colour"
        );
        let always_despite = piped(&args, &["--color", "always"], &[("NO_COLOR", "1")]);
        assert!(
            always_despite.contains(ESCAPE),
            "--color always is an explicit request and wins over NO_COLOR"
        );
    }
}

/// Runs kaprobe on a pseudo-terminal; None when script(1) is not available.
fn on_terminal(args: &[String], extra: &[&str], env: &[(&str, &str)]) -> Option<String> {
    let binary = assert_cmd::cargo::cargo_bin("kaprobe");
    let mut words = vec![binary.display().to_string()];
    words.extend(args.iter().cloned());
    words.extend(extra.iter().map(|s| s.to_string()));
    let line = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = std::process::Command::new("script");
    command
        .args(["-qec", &line, "/dev/null"])
        .env_remove("NO_COLOR")
        .env("TERM", "xterm");
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output().ok()?;
    if !output.status.success() && output.stdout.is_empty() {
        return None;
    }
    Some(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn terminals_get_colour_unless_no_color_or_dumb() {
    for args in coloured_commands() {
        let Some(auto) = on_terminal(&args, &[], &[]) else {
            eprintln!("skipping: script(1) cannot allocate a pseudo-terminal here");
            return;
        };
        assert!(
            auto.contains(ESCAPE),
            "{args:?} on a terminal has no colour: {auto}"
        );
        let no_color = on_terminal(&args, &[], &[("NO_COLOR", "1")]).unwrap();
        assert!(!no_color.contains(ESCAPE), "{args:?} ignored NO_COLOR");
        let empty = on_terminal(&args, &[], &[("NO_COLOR", "")]).unwrap();
        assert!(empty.contains(ESCAPE), "an empty NO_COLOR does not count");
        let dumb = on_terminal(&args, &[], &[("TERM", "dumb")]).unwrap();
        assert!(!dumb.contains(ESCAPE), "{args:?} coloured TERM=dumb");
        let never = on_terminal(&args, &["--color", "never"], &[]).unwrap();
        assert!(!never.contains(ESCAPE), "{args:?} ignored --color never");
    }
}
