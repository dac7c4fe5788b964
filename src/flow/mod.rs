//! TCP connection tracking: bidirectional connections keyed by 5-tuple and vantage point,
//! with per-direction sequence state. This layer records facts (what was sent, when, at which
//! sequence position); judging them is the detectors' job.

pub mod connection;
pub mod hash;
pub mod key;
pub mod seq;
pub mod table;
pub mod text;
pub mod tombstones;
pub mod tracker;

pub use connection::{Connection, ConnectionState, HalfState, SegmentAnalysis, SegmentFacts};
pub use key::{ConnectionId, Endpoint, FlowKey, Side, sort_by_connection_id};
pub use tracker::{Tracked, Tracker, TrackerConfig, Tracking};
