//! `kaprobe explain`: every finding code any detector can emit has a catalog entry, every
//! entry is emitted somewhere, and the command explains, lists and suggests.
//!
//! The codes a detector can emit are found by scanning `src/**/*.rs` (test modules excluded)
//! for the ways the sources name them:
//! 1. `code::NAME`, a constant of `kaprobe::explain::code` (how detectors should name codes);
//! 2. `code: "literal"`, a `Finding` field;
//! 3. `"literal", Severity::...`, a code handed to a helper or a table next to its severity;
//! 4. `const NAME: &str = "literal";` where NAME is then used in way 1-3 (`code: NAME`,
//!    `NAME, Severity::`).
//!
//! A code written any other way is not found, so the second test would fail for the entry
//! it documents; the runtime test on the lab captures is the safety net for the other
//! direction.

use assert_cmd::Command;
use kaprobe::explain::CATALOG;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The file's text before its test module, with whitespace runs collapsed to one space.
fn normalized_source(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    code.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifier starting at `start`.
fn ident_at(text: &str, start: usize) -> &str {
    let rest = text.get(start..).unwrap_or_default();
    let end = rest.find(|c: char| !is_ident_char(c)).unwrap_or(rest.len());
    &rest[..end]
}

/// The string literal whose opening quote is at `quote`.
fn literal_at(text: &str, quote: usize) -> Option<&str> {
    let rest = text.get(quote + 1..)?;
    rest.find('"').map(|end| &rest[..end])
}

fn is_code_like(text: &str) -> bool {
    !text.is_empty()
        && text.contains('-')
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Codes named in `text` by ways 1-3; names of constants used in ways 1-3 go to `used_names`.
fn scan(
    text: &str,
    constants: &BTreeMap<String, String>,
    codes: &mut BTreeSet<String>,
    used_names: &mut BTreeSet<String>,
) {
    for (at, _) in text.match_indices("code::") {
        if text[..at].chars().next_back().is_some_and(is_ident_char) {
            continue;
        }
        let name = ident_at(text, at + "code::".len());
        match constants.get(name) {
            Some(code) => {
                codes.insert(code.clone());
            }
            None => panic!("code::{name} is not a constant of kaprobe::explain::code"),
        }
    }
    for (at, _) in text.match_indices("code: ") {
        let value = at + "code: ".len();
        if text[value..].starts_with('"') {
            if let Some(literal) = literal_at(text, value).filter(|l| is_code_like(l)) {
                codes.insert(literal.to_string());
            }
        } else {
            let path_end = text[value..]
                .find(|c: char| !(is_ident_char(c) || c == ':'))
                .map_or(text.len(), |end| value + end);
            let name = text[value..path_end]
                .rsplit("::")
                .next()
                .unwrap_or_default();
            used_names.insert(name.to_string());
        }
    }
    for separator in [", Severity::", ",Severity::"] {
        for (at, _) in text.match_indices(separator) {
            let before = &text[..at];
            if let Some(stripped) = before.strip_suffix('"') {
                if let Some(open) = stripped.rfind('"') {
                    let literal = &stripped[open + 1..];
                    if is_code_like(literal) {
                        codes.insert(literal.to_string());
                    }
                }
            } else {
                let start = before
                    .rfind(|c: char| !is_ident_char(c))
                    .map_or(0, |i| i + 1);
                used_names.insert(before[start..].to_string());
            }
        }
    }
}

/// `const NAME: &str = "literal";` in `text`.
fn string_constants(text: &str) -> BTreeMap<String, String> {
    let mut constants = BTreeMap::new();
    for (at, _) in text.match_indices("const ") {
        let name = ident_at(text, at + "const ".len());
        let after_name = at + "const ".len() + name.len();
        let Some(rest) = text.get(after_name..) else {
            continue;
        };
        let Some(rest) = rest
            .strip_prefix(": &str = \"")
            .or_else(|| rest.strip_prefix(": &'static str = \""))
        else {
            continue;
        };
        if let Some(end) = rest.find('"') {
            constants.insert(name.to_string(), rest[..end].to_string());
        }
    }
    constants
}

/// Every finding code the sources can emit, with the files naming each.
fn emitted_codes() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let catalog_file = root.join("src/explain.rs");
    let catalog_constants = string_constants(&normalized_source(&catalog_file));
    let mut files = Vec::new();
    source_files(&root.join("src"), &mut files);
    let mut emitted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut used_names = BTreeSet::new();
    let mut local_constants = Vec::new();
    for path in files.iter().filter(|p| **p != catalog_file) {
        let text = normalized_source(path);
        let mut codes = BTreeSet::new();
        scan(&text, &catalog_constants, &mut codes, &mut used_names);
        let shown = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        for code in codes {
            emitted.entry(code).or_default().insert(shown.clone());
        }
        local_constants.push((shown, string_constants(&text)));
    }
    for (shown, constants) in local_constants {
        for (name, value) in constants {
            if used_names.contains(&name) && is_code_like(&value) {
                emitted.entry(value).or_default().insert(shown.clone());
            }
        }
    }
    emitted
}

fn catalog_codes() -> BTreeSet<String> {
    CATALOG.iter().map(|e| e.code.to_string()).collect()
}

#[test]
fn every_emitted_code_has_a_catalog_entry() {
    let catalog = catalog_codes();
    let emitted = emitted_codes();
    assert!(
        emitted.len() >= 25,
        "the scan found only {} codes: {emitted:?}",
        emitted.len()
    );
    let missing: Vec<String> = emitted
        .iter()
        .filter(|(code, _)| !catalog.contains(*code))
        .map(|(code, files)| format!("{code} (emitted in {files:?})"))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without an entry in src/explain.rs CATALOG: {missing:?}; add an entry and a \
constant in explain::code, then run `{}`",
        kaprobe::generate::REGENERATE
    );
}

#[test]
fn every_catalog_entry_is_emitted_somewhere() {
    let emitted = emitted_codes();
    // The HTTP detector is written on another branch; until it is merged its codes are
    // documented ahead of it.
    let http_pending = !Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/detect/http")
        .exists();
    if http_pending {
        eprintln!(
            "src/detect/http does not exist yet: http-* codes are not required to be emitted"
        );
    }
    let unused: Vec<&str> = CATALOG
        .iter()
        .map(|e| e.code)
        .filter(|code| !emitted.contains_key(*code))
        .filter(|code| !(http_pending && code.starts_with("http-")))
        .collect();
    assert!(
        unused.is_empty(),
        "catalog entries no detector emits (name the code through kaprobe::explain::code, or \
remove the entry): {unused:?}"
    );
}

#[test]
fn the_scanner_finds_each_way_of_naming_a_code() {
    let constants = BTreeMap::from([("RST_REFUSED".to_string(), "rst-refused".to_string())]);
    let text = normalized_source_text(
        "code: code::RST_REFUSED, x; code: \"a-b\", finding(\n \"c-d\",\n Severity::Info);\n\
         (\"e-f\", Severity::Error); code: LOCAL, (OTHER, Severity::Info); Event::new(ts, s, \"not-a-code\", t)",
    );
    let mut codes = BTreeSet::new();
    let mut used = BTreeSet::new();
    scan(&text, &constants, &mut codes, &mut used);
    let expected: BTreeSet<String> = ["rst-refused", "a-b", "c-d", "e-f"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(codes, expected);
    assert!(used.contains("LOCAL") && used.contains("OTHER"));
    let local = string_constants("pub const LOCAL: &str = \"g-h\"; const N: usize = 1;");
    assert_eq!(local.get("LOCAL").map(String::as_str), Some("g-h"));
    assert_eq!(local.len(), 1);
}

fn normalized_source_text(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn kaprobe() -> Command {
    let mut command = Command::cargo_bin("kaprobe").expect("the kaprobe binary");
    command.env("NO_COLOR", "1");
    command
}

#[test]
fn explain_prints_every_section_for_every_code() {
    for entry in CATALOG {
        let output = kaprobe().args(["explain", entry.code]).output().unwrap();
        assert!(output.status.success(), "explain {} failed", entry.code);
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.starts_with(&format!("{}: {}", entry.code, entry.title)),
            "{text}"
        );
        for heading in [
            "What it means",
            "Why it happens",
            "How kaprobe decided",
            "What to do",
            "Read more",
        ] {
            assert!(
                text.contains(&format!("\n{heading}\n")),
                "{}: no {heading}",
                entry.code
            );
        }
        assert!(text.contains(entry.references[0].split_whitespace().next().unwrap()));
    }
}

#[test]
fn explain_list_has_one_line_per_code() {
    let output = kaprobe().args(["explain", "--list"]).output().unwrap();
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let expected: Vec<&str> = CATALOG.iter().map(|e| e.code).collect();
    assert_eq!(listed, expected);
}

#[test]
fn unknown_code_exits_2_and_suggests_the_closest() {
    let output = kaprobe()
        .args(["explain", "keepalive-dead"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown finding code 'keepalive-dead'"),
        "{stderr}"
    );
    assert!(
        stderr.contains("did you mean keepalive-dead-peer"),
        "{stderr}"
    );
    assert!(output.stdout.is_empty());

    let typo = kaprobe()
        .args(["explain", "vrrp-failovr"])
        .output()
        .unwrap();
    assert_eq!(typo.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&typo.stderr).contains("did you mean vrrp-failover"));

    let nothing = kaprobe().args(["explain"]).output().unwrap();
    assert_eq!(
        nothing.status.code(),
        Some(2),
        "a code or --list is required"
    );
}

/// Runtime safety net for the scan: what the analyzer really reports on the lab's captures
/// is all in the catalog.
#[test]
fn codes_reported_on_the_lab_captures_are_in_the_catalog() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/lab/captures");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("skipping: {} does not exist", dir.display());
        return;
    };
    let mut captures: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pcap"))
        .collect();
    captures.sort();
    let catalog = catalog_codes();
    let mut seen = BTreeSet::new();
    for capture in &captures {
        let output = kaprobe()
            .args(["analyze", "--format", "json", "--fail-on", "never", "-q"])
            .arg(capture)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", capture.display());
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        for finding in report["findings"].as_array().into_iter().flatten() {
            let code = finding["code"].as_str().unwrap_or_default().to_string();
            assert!(
                catalog.contains(&code),
                "{code} reported on {} has no catalog entry",
                capture.display()
            );
            seen.insert(code);
        }
    }
    assert!(
        captures.is_empty() || !seen.is_empty(),
        "no findings on any lab capture"
    );
}
