//! kaprobe: diagnoses TCP keepalive, HTTP keep-alive and keepalived/VRRP problems from
//! packet captures.
//!
//! Data flows one way: [`capture`] (files, link types) → [`decode`] (a borrowed view of each
//! frame) → [`flow`] (TCP connection tracking) → [`detect`] (detectors producing events and
//! findings) → [`report`] (table, JSON). [`analyze`] drives the pipeline, [`run`] executes a
//! command line, [`cli`] only defines it.

#![deny(unsafe_code)]

pub mod analyze;
pub mod capture;
pub mod cli;
pub mod config;
pub mod decode;
pub mod detect;
pub mod explain;
pub mod flow;
pub mod generate;
pub mod host;
pub mod knowledge;
pub mod live;
pub mod memory;
pub mod report;
pub mod run;
pub mod time;
