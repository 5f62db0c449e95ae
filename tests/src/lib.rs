//! Helpers for the end-to-end tests: build the components, start the app in the host, call it.
