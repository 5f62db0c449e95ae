//! The stats component.
