//! The intake component.
