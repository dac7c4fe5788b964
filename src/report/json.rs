//! `--format json`: the whole report as one JSON document (schema in docs/json.md).
//!
//! Memory: the document holds one record per connection until the end, roughly 0.5–1 KiB
//! each; for captures with millions of connections use `--format jsonl`, which streams.

use super::Report;
use std::io::{self, Write};

pub fn write_document(report: &Report, out: &mut dyn Write) -> io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}
