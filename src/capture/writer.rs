//! A minimal classic-pcap writer: used by `kaprobe capture -w` and by tests that build
//! synthetic captures. Writes microsecond or nanosecond timestamps in native little-endian.

use super::LinkType;
use crate::time::Timestamp;
use std::io::{self, Write};

pub struct PcapWriter<W: Write> {
    out: W,
    nanoseconds: bool,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header. `link_number` is the LINKTYPE_ value (1 = Ethernet).
    pub fn new(mut out: W, link_number: u32, snaplen: u32, nanoseconds: bool) -> io::Result<Self> {
        let magic: u32 = if nanoseconds {
            0xa1b2_3c4d
        } else {
            0xa1b2_c3d4
        };
        out.write_all(&magic.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&0i32.to_le_bytes())?;
        out.write_all(&0u32.to_le_bytes())?;
        out.write_all(&snaplen.to_le_bytes())?;
        out.write_all(&link_number.to_le_bytes())?;
        Ok(PcapWriter { out, nanoseconds })
    }

    /// Writes one record; `original_len` may exceed `data.len()` for a truncated frame.
    pub fn write_packet(
        &mut self,
        ts: Timestamp,
        data: &[u8],
        original_len: u32,
    ) -> io::Result<()> {
        let seconds = ts.nanos().div_euclid(Timestamp::NANOS_PER_SEC);
        let nanos = ts.nanos().rem_euclid(Timestamp::NANOS_PER_SEC);
        let fraction = if self.nanoseconds {
            nanos
        } else {
            nanos / 1000
        };
        let captured = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame too large for pcap"))?;
        self.out.write_all(&(seconds as u32).to_le_bytes())?;
        self.out.write_all(&(fraction as u32).to_le_bytes())?;
        self.out.write_all(&captured.to_le_bytes())?;
        self.out
            .write_all(&original_len.max(captured).to_le_bytes())?;
        self.out.write_all(data)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// The LINKTYPE_ number of a link type, for writing captures.
pub fn link_number(link_type: LinkType) -> u32 {
    match link_type {
        LinkType::Null => 0,
        LinkType::Ethernet => 1,
        LinkType::Raw => 101,
        LinkType::Loop => 108,
        LinkType::LinuxSll => 113,
        LinkType::Ipv4 => 228,
        LinkType::Ipv6 => 229,
        LinkType::Nflog => 239,
        LinkType::LinuxSll2 => 276,
        LinkType::Unknown(n) => n,
    }
}
