//! Drift test: the committed man pages, shell completions and docs/findings.md are what the
//! current command line and catalog generate, byte for byte, and generating is reproducible.

use assert_cmd::Command;
use kaprobe::generate::REGENERATE;
use std::collections::BTreeMap;
use std::path::Path;

/// Files under `dir` (recursively), by path relative to `dir`.
fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(dir).unwrap_or(&path);
                files.insert(
                    relative.display().to_string(),
                    std::fs::read(&path).unwrap_or_default(),
                );
            }
        }
    }
    files
}

fn generate_into(root: &Path) {
    Command::cargo_bin("kaprobe")
        .expect("the kaprobe binary")
        .args(["generate", "all", "--root"])
        .arg(root)
        .assert()
        .success();
}

/// Differences between what is committed and what is generated, one line each.
fn differences(committed_root: &Path, generated_root: &Path, part: &str) -> Vec<String> {
    let committed = files_under(&committed_root.join(part));
    let generated = files_under(&generated_root.join(part));
    let mut problems = Vec::new();
    for (name, bytes) in &generated {
        match committed.get(name) {
            None => problems.push(format!("{part}/{name} is missing")),
            Some(old) if old != bytes => problems.push(format!("{part}/{name} is out of date")),
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|n| !generated.contains_key(*n)) {
        problems.push(format!("{part}/{name} is no longer generated (delete it)"));
    }
    problems
}

#[test]
fn committed_generated_files_match_the_current_cli() {
    let repository = Path::new(env!("CARGO_MANIFEST_DIR"));
    let fresh = tempfile::tempdir().unwrap();
    generate_into(fresh.path());
    let mut problems = differences(repository, fresh.path(), "man");
    problems.extend(differences(repository, fresh.path(), "completions"));
    let findings = std::fs::read(repository.join("docs/findings.md")).unwrap_or_default();
    if findings != std::fs::read(fresh.path().join("docs/findings.md")).unwrap() {
        problems.push("docs/findings.md is out of date".into());
    }
    assert!(
        problems.is_empty(),
        "generated files differ from what the current CLI and catalog produce:\n  {}\n\
Regenerate them from the repository root with:\n\n    {REGENERATE}\n",
        problems.join("\n  ")
    );
}

#[test]
fn generation_is_reproducible_and_complete() {
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    generate_into(first.path());
    generate_into(second.path());
    assert_eq!(files_under(first.path()), files_under(second.path()));

    let man = files_under(&first.path().join("man"));
    for page in [
        "kaprobe.1",
        "kaprobe-analyze.1",
        "kaprobe-sysctl.1",
        "kaprobe-sysctl-check.1",
        "kaprobe-sockets.1",
        "kaprobe-explain.1",
    ] {
        let text = String::from_utf8_lossy(man.get(page).unwrap_or_else(|| panic!("{page}")));
        assert!(text.contains(".SH EXAMPLES\n"), "{page}: no EXAMPLES");
        assert!(
            text.contains(".SH \"EXIT STATUS\"\n"),
            "{page}: no EXIT STATUS"
        );
        // .TH title section date source manual: the date stays empty for reproducibility.
        let title = text.lines().find(|l| l.starts_with(".TH ")).unwrap();
        assert!(title.contains(" 1  \"kaprobe "), "{page}: {title}");
    }
    assert!(
        !man.keys().any(|name| name.contains("generate")),
        "the hidden generate command has no page"
    );
    let completions = files_under(&first.path().join("completions"));
    let names: Vec<&str> = completions.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "_kaprobe",
            "_kaprobe.ps1",
            "kaprobe.bash",
            "kaprobe.elv",
            "kaprobe.fish"
        ]
    );
    for (name, script) in &completions {
        let script = String::from_utf8_lossy(script);
        assert!(script.contains("sysctl"), "{name} lacks subcommands");
        assert!(script.contains("idle-threshold"), "{name} lacks options");
        assert!(
            !script.contains("generate"),
            "{name} offers the hidden command"
        );
    }
}

/// The bash completion really completes: source it and ask for `kaprobe sy<TAB>`.
#[test]
fn bash_completion_completes_subcommands() {
    if std::process::Command::new("bash")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: no bash");
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/kaprobe.bash");
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source '{}'; COMP_WORDS=(kaprobe sy); COMP_CWORD=1; COMP_LINE='kaprobe sy'; COMP_POINT=10; _kaprobe kaprobe sy kaprobe; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    let replies = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        replies.trim(),
        "sysctl",
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
