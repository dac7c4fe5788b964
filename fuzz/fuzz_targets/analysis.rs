//! The whole analysis (TCP tracker and every detector) over an arbitrary sequence of frames
//! (format in `kaprobe_fuzz`), then both renderers over the report.
#![no_main]

use kaprobe::analyze::Analysis;
use kaprobe::capture::{InputSummary, RawPacket};
use kaprobe::config::AnalysisConfig;
use kaprobe::report::{json, table};
use kaprobe_fuzz::{Frames, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((settings, records)) = data.split_first() else {
        return;
    };
    let settings = Settings::from_byte(*settings);
    let mut config = AnalysisConfig {
        keep_timelines: settings.keep_timelines,
        timeline_all: settings.timeline_all,
        show_secrets: settings.show_secrets,
        ..AnalysisConfig::default()
    };
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
    let mut sink = std::io::sink();
    let _ = json::write_document(&report, &mut sink);
    let options = table::TableOptions {
        color: settings.show_secrets,
        width: Some(80),
        timeline: true,
    };
    let _ = table::write_report(&report, &options, &mut sink);
});
