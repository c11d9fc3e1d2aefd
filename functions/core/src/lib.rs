//! The remediator's pure core: no AWS SDK, no I/O beyond what is handed in.
//!
//! - [`decode`]: every trigger shape (CloudWatch Logs subscription, alarm action, alarm via SNS,
//!   EventBridge alarm change, schedule tick, manual action) into [`signal::Signal`]s.
//! - [`rules`]: the classification rules, as data; [`classify`]: the compiled classifier.
//! - [`cause`]: the cause ids and the table of thresholds and precedence.
//! - [`diagnosis`]: a batch of classified lines into one [`diagnosis::Diagnosis`].
//! - [`redact`]: secrets and personal numbers out of anything that leaves as text.
//! - [`metrics`]: Embedded Metric Format lines.

pub mod cause;
pub mod classify;
pub mod decode;
pub mod diagnosis;
pub mod metrics;
pub mod redact;
pub mod rules;
pub mod signal;

pub use cause::Cause;
pub use decode::{decode_slice, decode_value, DecodeError, Decoded};
pub use diagnosis::{Diagnoser, Diagnosis};
pub use signal::{ManualRequest, Signal, Trigger};
