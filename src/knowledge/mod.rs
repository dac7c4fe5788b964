//! Tables of outside knowledge (device defaults, documented behaviour), one data module
//! each, every row with its source. Code elsewhere looks facts up here instead of
//! hard-coding numbers.

pub mod middleboxes;
