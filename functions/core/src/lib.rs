//! The remediator's pure core: no AWS SDK, no I/O beyond what is handed in.
//!
//! - [`decode`]: every trigger shape (CloudWatch Logs subscription, alarm action, alarm via SNS,
//!   EventBridge alarm change, schedule tick, manual action) into [`signal::Signal`]s.
//! - [`rules`]: the classification rules, as data; [`classify`]: the compiled classifier.
//! - [`cause`]: the cause ids and the table of thresholds and precedence.
//! - [`diagnosis`]: a batch of classified lines into one [`diagnosis::Diagnosis`].
//! - [`redact`]: secrets and personal numbers out of anything that leaves as text.
//! - [`metrics`]: Embedded Metric Format lines; [`filters`]: the CloudWatch Logs subscription and
//!   metric filter patterns, from the same cause table.
//! - [`clock`]: times as pages and reports print them (the clock itself is injected).
//! - [`settings`]: configuration from the environment, checked at cold start.
//! - [`remedy`]: the runbook's configuration check, the plan per cause, and the policy (mode,
//!   budget, cooldown, no repeat) every mutating action passes.
//! - [`incident`]: the incident record, its status machine, timeline and verification;
//!   [`ladder`]: the escalation table as data; [`approval`]: fallback approval tokens.
//! - [`page`]: pages (SMS and full text) and status drafts; [`report`]: the markdown report.

pub mod approval;
pub mod cause;
pub mod classify;
pub mod clock;
pub mod decode;
pub mod diagnosis;
pub mod filters;
pub mod incident;
pub mod ladder;
pub mod metrics;
pub mod page;
pub mod redact;
pub mod remedy;
pub mod report;
pub mod rules;
pub mod settings;
pub mod signal;

pub use cause::Cause;
pub use decode::{decode_slice, decode_value, DecodeError, Decoded};
pub use diagnosis::{Diagnoser, Diagnosis};
pub use signal::{ManualRequest, Signal, Trigger};
