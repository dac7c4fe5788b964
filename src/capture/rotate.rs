//! `kaprobe capture -w FILE [--rotate-size SIZE]`: the raw capture written as classic pcap while
//! it runs, so it can be analyzed again later or opened in Wireshark.
//!
//! Without `--rotate-size` everything goes to FILE. With it, a new file is started before a
//! record would push the current one past SIZE: FILE, then FILE with `.1`, `.2`, ... inserted
//! before its extension (`ka.pcap`, `ka.1.pcap`, `ka.2.pcap`), so each part stays a valid pcap
//! that `kaprobe analyze --one-vantage ka*.pcap` reads back as one capture (without
//! `--one-vantage` each file is its own vantage point, and a connection spanning two parts
//! would count once per part). A file always holds at least one
//! record, even one larger than SIZE. Output is buffered; [`RotatingWriter::finish`] (and
//! [`RotatingWriter::flush`], called a few times a second by the run loop) make every record
//! written so far readable.

use super::RawPacket;
use super::writer::PcapWriter;
use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

/// Classic pcap global header and per-record header sizes.
const FILE_HEADER_BYTES: u64 = 24;
const RECORD_HEADER_BYTES: u64 = 16;

pub struct RotatingWriter {
    base: PathBuf,
    link_number: u32,
    snaplen: u32,
    rotate_bytes: Option<u64>,
    current: PcapWriter<BufWriter<File>>,
    current_bytes: u64,
    current_records: u64,
    files: Vec<PathBuf>,
}

impl RotatingWriter {
    /// Creates FILE (truncating it) and writes its pcap header. `link_number` is the
    /// LINKTYPE_ of the frames that will be written; `rotate_bytes` the size limit per file.
    pub fn create(
        base: &Path,
        link_number: u32,
        snaplen: u32,
        rotate_bytes: Option<u64>,
    ) -> io::Result<RotatingWriter> {
        let current = open_part(base, link_number, snaplen)?;
        Ok(RotatingWriter {
            base: base.to_path_buf(),
            link_number,
            snaplen,
            rotate_bytes,
            current,
            current_bytes: FILE_HEADER_BYTES,
            current_records: 0,
            files: vec![base.to_path_buf()],
        })
    }

    /// Appends one frame, starting the next file first when this one would grow past the limit.
    pub fn write(&mut self, packet: &RawPacket) -> io::Result<()> {
        let record_bytes = RECORD_HEADER_BYTES.saturating_add(packet.data.len() as u64);
        if let Some(limit) = self.rotate_bytes
            && self.current_records > 0
            && self.current_bytes.saturating_add(record_bytes) > limit
        {
            self.rotate()?;
        }
        self.current
            .write_packet(packet.ts, &packet.data, packet.original_len)?;
        self.current_bytes = self.current_bytes.saturating_add(record_bytes);
        self.current_records += 1;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        self.current.flush()?;
        let path = part_path(&self.base, self.files.len());
        self.current = open_part(&path, self.link_number, self.snaplen)?;
        self.current_bytes = FILE_HEADER_BYTES;
        self.current_records = 0;
        self.files.push(path);
        Ok(())
    }

    /// Pushes buffered records to the file so that it is valid up to the last one written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.current.flush()
    }

    /// Flushes and returns the files written, in order.
    pub fn finish(mut self) -> io::Result<Vec<PathBuf>> {
        self.current.flush()?;
        Ok(self.files)
    }

    /// The file being written now.
    pub fn current_path(&self) -> &Path {
        self.files.last().map_or(&self.base, PathBuf::as_path)
    }
}

fn open_part(
    path: &Path,
    link_number: u32,
    snaplen: u32,
) -> io::Result<PcapWriter<BufWriter<File>>> {
    let file = File::create(path)?;
    // Microseconds: what libpcap delivers by default and what every reader understands.
    PcapWriter::new(BufWriter::new(file), link_number, snaplen, false)
}

/// The path of part `index`: the base itself for 0, else `.index` before the extension.
pub fn part_path(base: &Path, index: usize) -> PathBuf {
    if index == 0 {
        return base.to_path_buf();
    }
    let stem = base.file_stem().unwrap_or_default();
    let mut name = OsString::from(stem);
    name.push(format!(".{index}"));
    if let Some(extension) = base.extension() {
        name.push(".");
        name.push(extension);
    }
    base.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::LinkType;
    use crate::capture::file::CaptureReader;
    use crate::time::Timestamp;

    fn frame(index: u32, length: usize) -> RawPacket {
        let mut packet = RawPacket {
            ts: Timestamp::from_nanos(1_700_000_000_000_000_000 + i64::from(index) * 1_000_000),
            link_type: LinkType::Raw,
            original_len: length as u32,
            ..RawPacket::default()
        };
        packet.data.resize(length, index as u8);
        packet
    }

    fn packets_in(path: &Path) -> Vec<(i64, usize)> {
        let mut reader = CaptureReader::open(&path.display().to_string(), 0).expect("readable");
        let mut packet = RawPacket::default();
        let mut seen = Vec::new();
        while reader.next_packet(&mut packet) {
            seen.push((packet.ts.nanos(), packet.data.len()));
        }
        assert!(
            reader.summary.warnings.is_empty(),
            "{:?}",
            reader.summary.warnings
        );
        seen
    }

    #[test]
    fn part_names_keep_the_extension_last() {
        let base = Path::new("/tmp/dir.d/ka.pcap");
        assert_eq!(part_path(base, 0), base);
        assert_eq!(part_path(base, 1), Path::new("/tmp/dir.d/ka.1.pcap"));
        assert_eq!(part_path(base, 12), Path::new("/tmp/dir.d/ka.12.pcap"));
        assert_eq!(part_path(Path::new("ka"), 2), Path::new("ka.2"));
    }

    #[test]
    fn without_a_limit_everything_goes_to_one_valid_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("all.pcap");
        let mut writer = RotatingWriter::create(&path, 101, 65535, None).expect("create");
        for index in 0..50 {
            writer.write(&frame(index, 100)).expect("write");
        }
        let files = writer.finish().expect("finish");
        assert_eq!(files, vec![path.clone()]);
        assert_eq!(packets_in(&path).len(), 50);
    }

    #[test]
    fn rotation_splits_at_the_size_and_loses_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ka.pcap");
        // 24-byte header + 4 records of 16 + 100 bytes = 488 fit under 500, a fifth does not.
        let mut writer = RotatingWriter::create(&path, 101, 65535, Some(500)).expect("create");
        for index in 0..10 {
            writer.write(&frame(index, 100)).expect("write");
        }
        let files = writer.finish().expect("finish");
        assert_eq!(files.len(), 3, "{files:?}");
        let counts: Vec<usize> = files.iter().map(|f| packets_in(f).len()).collect();
        assert_eq!(counts, vec![4, 4, 2]);
        for file in &files {
            assert!(std::fs::metadata(file).expect("exists").len() <= 500);
        }
        let mut all: Vec<(i64, usize)> = files.iter().flat_map(|f| packets_in(f)).collect();
        all.dedup();
        assert_eq!(all.len(), 10, "every frame once, in order");
        assert!(all.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn a_frame_larger_than_the_limit_still_gets_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.pcap");
        let mut writer = RotatingWriter::create(&path, 101, 65535, Some(100)).expect("create");
        writer.write(&frame(0, 1000)).expect("write");
        writer.write(&frame(1, 1000)).expect("write");
        let files = writer.finish().expect("finish");
        assert_eq!(files.len(), 2);
        assert_eq!(packets_in(&files[0]), vec![(frame(0, 1).ts.nanos(), 1000)]);
        assert_eq!(packets_in(&files[1]), vec![(frame(1, 1).ts.nanos(), 1000)]);
    }

    #[test]
    fn flush_makes_the_file_readable_while_writing_continues() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("open.pcap");
        let mut writer = RotatingWriter::create(&path, 101, 65535, None).expect("create");
        for index in 0..3 {
            writer.write(&frame(index, 60)).expect("write");
        }
        writer.flush().expect("flush");
        assert_eq!(packets_in(writer.current_path()).len(), 3);
    }
}
