//! The synthetic city generator (see the crate description).
