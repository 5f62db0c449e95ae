//! canbao (参保): the domain rules of universal social-insurance enrollment registration
//! (全民参保登记), once, for every component. See `../shared/docs/DOMAIN.md` for the reference
//! each module implements; components only translate HTTP to calls into this crate.

pub mod codes;
pub mod correction;
pub mod error;
pub mod figures;
pub mod stats;
pub mod ids;
pub mod masking;
pub mod ratelimit;
pub mod regions;
pub mod storage;
pub mod person;
pub mod completeness;
pub mod merge;
pub mod duplicates;
pub mod store;
pub mod registration;
pub mod idempotency;
pub mod region_store;
pub mod api;
pub mod audit;
pub mod auth;
pub mod redact;
pub mod intake;
#[cfg(feature = "spin")]
pub mod spin_runtime;
