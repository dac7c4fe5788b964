//! HTTP stream parsing through the whole analysis: arbitrary bytes as the two directions of
//! two TCP connections (format in `kaprobe_fuzz::http_packets`), then both renderers.
#![no_main]

use kaprobe::analyze::Analysis;
use kaprobe::capture::InputSummary;
use kaprobe_fuzz::{Settings, http_packets, render_everything};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((settings, records)) = data.split_first() else {
        return;
    };
    let settings = Settings::from_byte(*settings);
    let config = settings.config();
    let mut analysis = Analysis::new(config, None);
    for packet in http_packets(records) {
        analysis.process(&packet.frame());
    }
    let Ok(report) = analysis.finish(vec![InputSummary::default()]) else {
        return;
    };
    render_everything(&report, false);
});
