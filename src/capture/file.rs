//! Reading one capture file (or stdin) as a stream of [`RawPacket`]s.
//!
//! Containers: classic pcap (both byte orders, micro- and nanosecond magic), pcapng (sections,
//! several interfaces with their own link type, `if_tsresol` and `if_tsoffset`; EPB, SPB and the
//! obsolete OPB), each optionally gzip-compressed. Parsing is pcap-parser's streaming reader over
//! a fixed buffer that only grows for an oversized record, up to [`MAX_RECORD_BYTES`].
//!
//! A file cut in the middle of a record is not an error: what was read is analyzed and the
//! input gets a warning. A file that is empty, missing or not a capture is an input error that
//! names the magic bytes it saw.

use super::{InputSummary, LinkType, RawPacket};
use crate::time::Timestamp;
use anyhow::{Context, Result, bail};
use flate2::read::MultiGzDecoder;
use pcap_parser::pcapng::Block;
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{PcapBlockOwned, PcapError};
use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Initial read buffer: large reads keep syscalls rare.
const READ_BUFFER_BYTES: usize = 1 << 20;
/// Largest record kaprobe accepts; libpcap itself refuses records over 256 KiB for most link
/// types, so anything near this is corruption, not traffic.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

const PCAP_MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Per-interface facts from a pcapng Interface Description Block.
#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: LinkType,
    /// Timestamp units per second.
    units_per_second: u64,
    offset_seconds: i64,
}

/// Counts bytes pulled from the underlying file, for the progress bar.
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.counter.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// A streaming reader over one input.
pub struct CaptureReader {
    reader: Box<dyn PcapReaderIterator + Send>,
    index: u16,
    container: Container,
    finished: bool,
    /// Size of pcap-parser's buffer: it only says whether a grow worked, not the size.
    buffer_bytes: usize,
    pub summary: InputSummary,
    /// Compressed or raw bytes read so far from the file (progress).
    pub bytes_read: Arc<AtomicU64>,
    /// Total file size when known (regular files), for the progress bar.
    pub total_bytes: Option<u64>,
}

impl CaptureReader {
    /// Opens `path` (`-` is stdin) and recognizes its format by magic bytes.
    pub fn open(path: &str, index: u16) -> Result<CaptureReader> {
        let (source, total_bytes): (Box<dyn Read + Send>, Option<u64>) = if path == "-" {
            (Box::new(io::stdin()), None)
        } else {
            let file = File::open(path).with_context(|| format!("cannot open '{path}'"))?;
            let size = file.metadata().ok().map(|m| m.len());
            if size == Some(0) {
                bail!("'{path}' is empty: not a capture (0 bytes)");
            }
            (Box::new(file), size)
        };
        let mut reader = CaptureReader::from_reader(path, index, source)?;
        reader.total_bytes = total_bytes;
        Ok(reader)
    }

    /// Reads a capture from any byte stream; `path` names it in messages and `inputs[].path`.
    /// Used by `open`, and by the fuzz targets, which have no files.
    pub fn from_reader(
        path: &str,
        index: u16,
        source: Box<dyn Read + Send>,
    ) -> Result<CaptureReader> {
        let counter = Arc::new(AtomicU64::new(0));
        let counted = CountingReader {
            inner: source,
            counter: Arc::clone(&counter),
        };
        let (stream, format) = detect_format(path, Box::new(counted))?;
        let reader = pcap_parser::create_reader(READ_BUFFER_BYTES, stream)
            .map_err(|e| anyhow::anyhow!("'{path}': cannot read the {format} header: {e:?}"))?;
        let summary = InputSummary {
            path: path.to_string(),
            format,
            ..InputSummary::default()
        };
        Ok(CaptureReader {
            reader,
            index,
            container: Container::default(),
            finished: false,
            buffer_bytes: READ_BUFFER_BYTES,
            summary,
            bytes_read: counter,
            total_bytes: None,
        })
    }

    /// Reads the next frame into `out`. Returns `false` at the end of the input (including a
    /// truncated or corrupt tail, which is recorded as a warning).
    pub fn next_packet(&mut self, out: &mut RawPacket) -> bool {
        let mut data = std::mem::take(&mut out.data);
        data.clear();
        let got = self.next_frame_into(out, &mut data);
        out.data = data;
        got
    }

    /// Reads the next frame with its bytes appended to `bytes` (a batch's arena) and the rest
    /// of it into `meta`, whose own `data` is left alone: the reader thread fills its batches
    /// this way, copying each frame once instead of twice. Returns `false` at the end of the
    /// input, with nothing appended.
    pub fn next_frame_into(&mut self, meta: &mut RawPacket, bytes: &mut Vec<u8>) -> bool {
        let start = bytes.len();
        while !self.finished {
            let step = match self.reader.next() {
                Ok((consumed, block)) => {
                    let mut out = FrameOut {
                        meta: &mut *meta,
                        bytes: &mut *bytes,
                    };
                    let got = self
                        .container
                        .take_block(block, &mut out, &mut self.summary);
                    Step::Consumed { consumed, got }
                }
                Err(PcapError::Eof) => Step::End,
                Err(PcapError::Incomplete(_)) => Step::Refill,
                Err(PcapError::BufferTooSmall) => Step::Grow,
                Err(PcapError::UnexpectedEof) => Step::Truncated,
                Err(other) => Step::Corrupt(describe_error(&other)),
            };
            match step {
                Step::Consumed { consumed, got } => {
                    // `consume` would move the unread half of the buffer to its start each
                    // time half of it was read (copying the whole file once more); without
                    // the shift only the partial record left at a refill is moved.
                    self.reader.consume_noshift(consumed);
                    if got {
                        meta.input = self.index;
                        let frame = meta.frame_with(bytes.get(start..).unwrap_or_default());
                        self.summary.count_packet(&frame);
                        return true;
                    }
                }
                Step::End => self.finished = true,
                Step::Refill => self.refill(),
                Step::Grow => self.grow(),
                Step::Truncated => self.stop(format!(
                    "the capture ends in the middle of a record at byte {}: the last packet is incomplete and was skipped",
                    self.reader.consumed()
                )),
                Step::Corrupt(reason) => self.stop(format!(
                    "corrupt record at byte {} ({reason}); the rest of the file was not read",
                    self.reader.consumed()
                )),
            }
        }
        false
    }

    fn stop(&mut self, warning: String) {
        self.summary.warn(warning);
        self.finished = true;
    }

    fn refill(&mut self) {
        let failed = self.reader.refill().map_err(|e| format!("{e:?}")).err();
        if let Some(error) = failed {
            let message = format!("read error after byte {}: {error}", self.reader.consumed());
            self.stop(message);
        }
    }

    fn grow(&mut self) {
        // Doubled from the buffer's real size: the data in it can be much less after a short
        // read (pipes, gzip), and a "grow" to less than the capacity fails.
        let wanted = self.buffer_bytes.saturating_mul(2);
        if wanted > MAX_RECORD_BYTES || !self.reader.grow(wanted) {
            let message = format!(
                "record at byte {} is larger than {} MiB: the file is corrupt from here on; the rest was not read",
                self.reader.consumed(),
                MAX_RECORD_BYTES >> 20
            );
            self.stop(message);
        } else {
            self.buffer_bytes = wanted;
            self.refill();
        }
    }
}

/// One step of the read loop, computed while the reader's buffer is borrowed.
enum Step {
    Consumed { consumed: usize, got: bool },
    End,
    Refill,
    Grow,
    Truncated,
    Corrupt(String),
}

/// What the container told us so far: the link type and timestamp precision of classic pcap,
/// the interfaces of the current pcapng section.
struct Container {
    legacy_link_type: LinkType,
    legacy_nanoseconds: bool,
    legacy_snaplen: u32,
    /// A frame longer than the snaplen was already reported (once per file is enough).
    over_snaplen_reported: bool,
    interfaces: Vec<Interface>,
}

impl Default for Container {
    fn default() -> Self {
        Container {
            legacy_link_type: LinkType::Unknown(u32::MAX),
            legacy_nanoseconds: false,
            legacy_snaplen: 0,
            over_snaplen_reported: false,
            interfaces: Vec::new(),
        }
    }
}

impl Container {
    /// Handles one container block; returns true when it filled `out` with a frame.
    fn take_block(
        &mut self,
        block: PcapBlockOwned<'_>,
        out: &mut FrameOut<'_>,
        summary: &mut InputSummary,
    ) -> bool {
        match block {
            PcapBlockOwned::LegacyHeader(header) => {
                self.legacy_link_type = LinkType::from_number(header.network.0 as u32);
                self.legacy_nanoseconds = header.is_nanosecond_precision();
                self.legacy_snaplen = header.snaplen;
                summary.note_link_type(self.legacy_link_type);
                false
            }
            PcapBlockOwned::Legacy(frame) => {
                self.check_snaplen(frame.caplen, summary);
                let fraction = if self.legacy_nanoseconds {
                    i64::from(frame.ts_usec)
                } else {
                    i64::from(frame.ts_usec).saturating_mul(1000)
                };
                out.meta.ts = Timestamp::from_nanos(
                    i64::from(frame.ts_sec)
                        .saturating_mul(Timestamp::NANOS_PER_SEC)
                        .saturating_add(fraction),
                );
                out.meta.interface = 0;
                out.meta.link_type = self.legacy_link_type;
                out.meta.original_len = frame.origlen;
                fill(out, frame.data);
                true
            }
            PcapBlockOwned::NG(block) => self.take_pcapng_block(block, out, summary),
        }
    }

    /// A record longer than the file's own snaplen means a sloppy writer or a damaged length;
    /// the data is there, so it is read, but the user should know the header lies.
    fn check_snaplen(&mut self, caplen: u32, summary: &mut InputSummary) {
        if self.over_snaplen_reported || self.legacy_snaplen == 0 || caplen <= self.legacy_snaplen {
            return;
        }
        self.over_snaplen_reported = true;
        summary.warn(format!(
            "frame {} has {caplen} captured bytes, more than the snaplen {} in the file header; read anyway (later such frames are not listed)",
            summary.packets + 1,
            self.legacy_snaplen
        ));
    }

    fn take_pcapng_block(
        &mut self,
        block: Block<'_>,
        out: &mut FrameOut<'_>,
        summary: &mut InputSummary,
    ) -> bool {
        match block {
            Block::SectionHeader(_) => {
                // Interface ids are scoped to their section.
                self.interfaces.clear();
                false
            }
            Block::InterfaceDescription(idb) => {
                let link_type = LinkType::from_number(idb.linktype.0 as u32);
                summary.note_link_type(link_type);
                let units_per_second = idb.ts_resolution().unwrap_or(0);
                if units_per_second == 0 {
                    summary.warn(format!(
                        "interface {} has an invalid if_tsresol ({}); its timestamps read as microseconds",
                        self.interfaces.len(),
                        idb.if_tsresol
                    ));
                }
                self.interfaces.push(Interface {
                    link_type,
                    units_per_second: if units_per_second == 0 {
                        1_000_000
                    } else {
                        units_per_second
                    },
                    offset_seconds: idb.if_tsoffset,
                });
                false
            }
            Block::EnhancedPacket(epb) => {
                let Some(interface) = self.interface(epb.if_id, summary) else {
                    return false;
                };
                let raw = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                out.meta.ts = pcapng_timestamp(raw, interface);
                out.meta.interface = epb.if_id;
                out.meta.link_type = interface.link_type;
                out.meta.original_len = epb.origlen;
                let captured = (epb.caplen as usize).min(epb.data.len());
                fill(out, &epb.data[..captured]);
                true
            }
            Block::SimplePacket(spb) => {
                // SPBs have no timestamp; they belong to interface 0 (pcapng §4.4).
                let Some(interface) = self.interface(0, summary) else {
                    return false;
                };
                out.meta.ts = Timestamp::from_nanos(
                    interface
                        .offset_seconds
                        .saturating_mul(Timestamp::NANOS_PER_SEC),
                );
                out.meta.interface = 0;
                out.meta.link_type = interface.link_type;
                out.meta.original_len = spb.origlen;
                let captured = (spb.origlen as usize).min(spb.data.len());
                fill(out, &spb.data[..captured]);
                true
            }
            Block::Unknown(unknown) if unknown.block_type == 2 => {
                self.take_obsolete_packet_block(unknown.data, out, summary)
            }
            _ => false,
        }
    }

    /// The obsolete Packet Block (type 2), still written by old tools: interface id (u16),
    /// drops (u16), timestamp high/low, captured length, original length, data. Parsed here
    /// because pcap-parser returns it as an unknown block. Only little-endian sections are
    /// handled, which is what every writer still producing OPBs emits.
    fn take_obsolete_packet_block(
        &mut self,
        body: &[u8],
        out: &mut FrameOut<'_>,
        summary: &mut InputSummary,
    ) -> bool {
        let read_u32 = |at: usize| -> Option<u32> {
            body.get(at..at + 4)
                .and_then(|b| b.try_into().ok())
                .map(u32::from_le_bytes)
        };
        let (Some(ids), Some(high), Some(low), Some(caplen), Some(origlen)) = (
            read_u32(0),
            read_u32(4),
            read_u32(8),
            read_u32(12),
            read_u32(16),
        ) else {
            summary.warn("an obsolete pcapng packet block is too short; skipped".into());
            return false;
        };
        let interface_id = ids & 0xffff;
        let Some(interface) = self.interface(interface_id, summary) else {
            return false;
        };
        let Some(data) = body.get(20..).map(|d| &d[..(caplen as usize).min(d.len())]) else {
            return false;
        };
        out.meta.ts = pcapng_timestamp((u64::from(high) << 32) | u64::from(low), interface);
        out.meta.interface = interface_id;
        out.meta.link_type = interface.link_type;
        out.meta.original_len = origlen;
        fill(out, data);
        true
    }

    fn interface(&self, id: u32, summary: &mut InputSummary) -> Option<Interface> {
        let found = self.interfaces.get(id as usize).copied();
        if found.is_none() {
            summary.warn(format!(
                "a packet names interface {id}, which no interface description block declared; skipped"
            ));
        }
        found
    }
}

/// Where a container block's frame goes: its timestamp, interface and lengths into `meta`,
/// its bytes appended to `bytes`.
struct FrameOut<'a> {
    meta: &'a mut RawPacket,
    bytes: &'a mut Vec<u8>,
}

fn fill(out: &mut FrameOut<'_>, data: &[u8]) {
    out.bytes.extend_from_slice(data);
}

fn pcapng_timestamp(raw: u64, interface: Interface) -> Timestamp {
    let units = u128::from(interface.units_per_second.max(1));
    let nanos = u128::from(raw) * 1_000_000_000 / units;
    let nanos = i64::try_from(nanos).unwrap_or(i64::MAX);
    Timestamp::from_nanos(
        nanos.saturating_add(
            interface
                .offset_seconds
                .saturating_mul(Timestamp::NANOS_PER_SEC),
        ),
    )
}

fn describe_error(error: &PcapError<&[u8]>) -> String {
    match error {
        PcapError::NomError(_, kind) => format!("parse error {kind:?}"),
        PcapError::OwnedNomError(_, kind) => format!("parse error {kind:?}"),
        PcapError::HeaderNotRecognized => "unrecognized header".into(),
        PcapError::ReadError => "read error".into(),
        other => format!("{other:?}"),
    }
}

/// Peeks at the first bytes, unwraps gzip when present, and checks for a capture magic.
fn detect_format(
    path: &str,
    mut stream: Box<dyn Read + Send>,
) -> Result<(Box<dyn Read + Send>, String)> {
    let head = read_prefix(&mut stream, 4).with_context(|| format!("cannot read '{path}'"))?;
    if head.is_empty() {
        bail!("'{path}' is empty: not a capture (0 bytes)");
    }
    let mut rejoined: Box<dyn Read + Send> = Box::new(Prefixed::new(head.clone(), stream));
    let mut compression = "";
    let mut head = head;
    if head.starts_with(&GZIP_MAGIC) {
        let mut inflated: Box<dyn Read + Send> = Box::new(MultiGzDecoder::new(rejoined));
        head = read_prefix(&mut inflated, 4)
            .with_context(|| format!("'{path}' looks gzip-compressed but does not inflate"))?;
        rejoined = Box::new(Prefixed::new(head.clone(), inflated));
        compression = "+gzip";
    }
    let format = if head.as_slice() == PCAPNG_MAGIC {
        "pcapng"
    } else if PCAP_MAGICS.iter().any(|m| head.as_slice() == m) {
        "pcap"
    } else {
        let shown: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        bail!(
            "'{path}' is not a capture: it starts with bytes {} (expected a pcap magic such as d4 c3 b2 a1, pcapng 0a 0d 0d 0a, or gzip 1f 8b)",
            shown.join(" ")
        );
    };
    Ok((rejoined, format!("{format}{compression}")))
}

/// Gives back the bytes peeked at, then the rest of the stream. The first read returns at
/// least [`FIRST_READ_BYTES`] when the stream has them: pcap-parser recognizes the format
/// from its first read alone, so a 4-byte read would make every file look unrecognized.
struct Prefixed {
    prefix: Vec<u8>,
    inner: Box<dyn Read + Send>,
    first: bool,
}

const FIRST_READ_BYTES: usize = 4096;

impl Prefixed {
    fn new(prefix: Vec<u8>, inner: Box<dyn Read + Send>) -> Prefixed {
        Prefixed {
            prefix,
            inner,
            first: true,
        }
    }
}

impl Read for Prefixed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.len());
            buf[..n].copy_from_slice(&self.prefix[..n]);
            self.prefix.drain(..n);
            filled = n;
        }
        let wanted = if self.first {
            FIRST_READ_BYTES.min(buf.len())
        } else {
            1
        };
        self.first = false;
        while filled < buf.len() {
            let n = self.inner.read(&mut buf[filled..])?;
            filled += n;
            if n == 0 || filled >= wanted {
                break;
            }
        }
        Ok(filled)
    }
}

fn read_prefix(stream: &mut Box<dyn Read + Send>, wanted: usize) -> io::Result<Vec<u8>> {
    let mut head = vec![0u8; wanted];
    let mut filled = 0;
    while filled < wanted {
        let n = stream.read(&mut head[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    head.truncate(filled);
    Ok(head)
}
