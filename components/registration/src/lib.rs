//! The registration component.
