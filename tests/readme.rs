//! The README's examples are what the binary prints: every ```console block is run, command
//! by command, and its output compared with what is pasted under it.
//!
//! Format: a line `$ COMMAND` is run with `sh -c` from the repository root, with the built
//! `kaprobe` first on PATH, `NO_COLOR=1`, and stderr merged into stdout; the lines after it,
//! up to the next `$ ` line or the end of the block, are its expected output. Table output is
//! 160 columns wide because stdout is a pipe. Blocks fenced as ```console http-pending are
//! examples of the HTTP detector: skipped while `src/detect/http` does not exist, checked
//! (and failing with the output to paste) once it does. Commands using jq are skipped with a
//! message when jq is not installed.
//!
//! After an intended change of output, `KAPROBE_UPDATE_README=1 cargo test --test readme`
//! pastes the current outputs into README.md (review the diff before committing).

use std::path::Path;

struct Example {
    line: usize,
    command: String,
    expected: String,
    http_pending: bool,
}

fn examples(readme: &str) -> Vec<Example> {
    let mut examples: Vec<Example> = Vec::new();
    let mut in_block = false;
    let mut http_pending = false;
    for (index, line) in readme.lines().enumerate() {
        if let Some(info) = line.strip_prefix("```") {
            if in_block {
                in_block = false;
            } else if info.split_whitespace().next() == Some("console") {
                in_block = true;
                http_pending = info.split_whitespace().any(|word| word == "http-pending");
            }
            continue;
        }
        if !in_block {
            continue;
        }
        if let Some(command) = line.strip_prefix("$ ") {
            examples.push(Example {
                line: index + 1,
                command: command.to_string(),
                expected: String::new(),
                http_pending,
            });
        } else if let Some(example) = examples.last_mut() {
            example.expected.push_str(line);
            example.expected.push('\n');
        }
    }
    examples
}

fn run(command: &str) -> String {
    let binary = assert_cmd::cargo::cargo_bin("kaprobe");
    let directory = binary.parent().expect("the binary's directory");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![directory.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("exec 2>&1\n{command}"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", std::env::join_paths(paths).unwrap())
        .env("NO_COLOR", "1")
        .output()
        .expect("running sh");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn has_jq() -> bool {
    std::process::Command::new("jq")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Rewrites every console block's outputs with what the commands print now.
fn update_readme(root: &Path, readme: &str) {
    let mut updated = String::new();
    let mut in_block = false;
    for line in readme.lines() {
        if let Some(info) = line.strip_prefix("```") {
            if in_block {
                in_block = false;
            } else if info.split_whitespace().next() == Some("console") {
                in_block = true;
                updated.push_str("```console\n");
                continue;
            }
            updated.push_str(line);
            updated.push('\n');
            continue;
        }
        if !in_block {
            updated.push_str(line);
            updated.push('\n');
        } else if let Some(command) = line.strip_prefix("$ ") {
            updated.push_str(line);
            updated.push('\n');
            updated.push_str(&run(command));
        }
    }
    std::fs::write(root.join("README.md"), updated).unwrap();
}

#[test]
fn readme_examples_print_what_is_pasted() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    if std::env::var_os("KAPROBE_UPDATE_README").is_some() {
        update_readme(root, &readme);
        return;
    }
    let examples = examples(&readme);
    assert!(
        examples.len() >= 6,
        "found only {} examples",
        examples.len()
    );
    let http_exists = root.join("src/detect/http").exists();
    let jq = has_jq();
    let mut failures = Vec::new();
    for example in &examples {
        assert!(
            example.command.starts_with("kaprobe "),
            "README.md:{}: examples start with `kaprobe `",
            example.line
        );
        if example.http_pending && !http_exists {
            eprintln!(
                "README.md:{}: skipped until the HTTP detector exists",
                example.line
            );
            continue;
        }
        if example.command.contains("| jq") && !jq {
            eprintln!("README.md:{}: skipped, jq is not installed", example.line);
            continue;
        }
        let actual = run(&example.command);
        if actual != example.expected {
            failures.push(format!(
                "README.md:{}: `$ {}` now prints:\n{actual}\n(the README has:\n{})",
                example.line, example.command, example.expected
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn the_parser_reads_commands_and_outputs() {
    let text = "x\n```console\n$ kaprobe a\none\ntwo\n$ kaprobe b\n```\n```sh\n$ not this\n```\n```console http-pending\n$ kaprobe c\n```\n";
    let found = examples(text);
    let commands: Vec<&str> = found.iter().map(|e| e.command.as_str()).collect();
    assert_eq!(commands, ["kaprobe a", "kaprobe b", "kaprobe c"]);
    assert_eq!(found[0].expected, "one\ntwo\n");
    assert_eq!(found[1].expected, "");
    assert!(!found[0].http_pending && found[2].http_pending);
    assert_eq!(found[0].line, 3);
}
