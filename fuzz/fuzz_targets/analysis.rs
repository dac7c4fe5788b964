//! The whole analysis (TCP tracker and every detector) over an arbitrary sequence of frames
//! (format in `kaprobe_fuzz`), then both renderers over the report.
#![no_main]

use kaprobe::analyze::Analysis;
use kaprobe::capture::{InputSummary, RawPacket};
use kaprobe_fuzz::{Frames, Settings, render_everything};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((settings, records)) = data.split_first() else {
        return;
    };
    let settings = Settings::from_byte(*settings);
    let mut config = settings.config();
    if settings.small_table {
        config.tracker.max_connections = 4;
    }
    let mut analysis = Analysis::new(config, None);
    let mut frames = Frames::new(records);
    let mut packet = RawPacket::default();
    while frames.next_into(&mut packet) {
        analysis.process(&packet.frame());
    }
    let Ok(report) = analysis.finish(vec![InputSummary::default()]) else {
        return;
    };
    render_everything(&report, settings.show_secrets);
});
