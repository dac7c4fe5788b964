//! The file reader over arbitrary bytes: pcap, pcapng and gzip of either, as `CaptureReader`
//! sees them from stdin. Every frame read is also decoded.
#![no_main]

use kaprobe::capture::RawPacket;
use kaprobe::capture::file::CaptureReader;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let source = Box::new(std::io::Cursor::new(data.to_vec()));
    let Ok(mut reader) = CaptureReader::from_reader("fuzz", 0, source) else {
        return;
    };
    let mut packet = RawPacket::default();
    let mut frames = 0u64;
    while reader.next_packet(&mut packet) {
        frames += 1;
        let decoded = kaprobe::decode::decode(&packet.frame());
        std::hint::black_box(decoded);
    }
    assert_eq!(reader.summary.packets, frames);
});
