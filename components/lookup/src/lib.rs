//! The lookup component.
