//! Knowledge tables with their sources: OS keepalive defaults, middlebox idle timeouts.

pub mod keepalive_defaults;
pub mod middleboxes;
