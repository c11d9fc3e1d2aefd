//! The triage Lambda: any trigger in, a diagnosis out.
//!
//! `main.rs` only wires tracing and the runtime; everything testable lives here. The handler
//! decodes the event ([`remediator_core::decode`]), classifies every log line it carries, and
//! answers `{"trigger", "diagnosis", "plan", "incident", …}`. It logs structured fields (never a
//! raw log line) and emits one Embedded Metric Format line per invocation.

use lambda_runtime::{Diagnostic, LambdaEvent};
use remediator_core::classify::{classifier, Classifier};
use remediator_core::decode::{batch_from_lines, decode_value, DecodeError};
use remediator_core::diagnosis::{Diagnoser, Diagnosis};
use remediator_core::metrics::diagnosis_emf;
use remediator_core::signal::{AlarmSignal, RejectedLine, Signal, TickSignal, Trigger};
use remediator_core::ManualRequest;
use serde::Serialize;
use serde_json::Value;

/// Rejected-line reasons echoed in one response; the count in the diagnosis is always complete.
const MAX_REJECTED_IN_RESPONSE: usize = 20;

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The event can never be processed: retrying it would fail the same way.
    #[error("{0}")]
    Decode(#[from] DecodeError),
}

impl TriageError {
    pub fn retryable(&self) -> bool {
        match self {
            TriageError::Decode(_) => false,
        }
    }
}

impl From<TriageError> for Diagnostic {
    fn from(e: TriageError) -> Self {
        Diagnostic {
            error_type: if e.retryable() {
                "Retryable"
            } else {
                "NonRetryable"
            }
            .to_owned(),
            error_message: e.to_string(),
        }
    }
}

/// The handler's answer.
#[derive(Debug, Serialize)]
pub struct TriageResponse {
    pub trigger: Trigger,
    pub diagnosis: Diagnosis,
    /// Actions planned for the diagnosis (none are planned yet by triage).
    pub plan: Vec<Value>,
    /// The incident this signal folded into (none are opened yet by triage).
    pub incident: Option<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<AlarmSignal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tick: Option<TickSignal>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<ManualRequest>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedLine>,
}

/// What one invocation produced: the response and its metrics line.
pub struct Outcome {
    pub response: TriageResponse,
    pub emf: String,
}

/// Everything built once per cold start.
pub struct Triage {
    function_name: String,
    classifier: &'static Classifier,
}

impl Triage {
    /// Reads the environment once. The classifier is compiled here, not on the first event.
    pub fn from_env() -> Self {
        let function_name =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "triage".to_owned());
        Triage::new(function_name)
    }

    pub fn new(function_name: impl Into<String>) -> Self {
        Triage {
            function_name: function_name.into(),
            classifier: classifier(),
        }
    }

    /// The Lambda entry point: handles the event, logs, prints the metrics line.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<TriageResponse, TriageError> {
        let request_id = event.context.request_id.clone();
        match self.triage(event.payload, now_ms()) {
            Ok(outcome) => {
                let d = &outcome.response.diagnosis;
                tracing::info!(
                    request_id,
                    trigger = outcome.response.trigger.id(),
                    cause = d.cause.map(|c| c.id()),
                    confidence = d.confidence,
                    lines_examined = d.lines_examined,
                    lines_rejected = d.lines_rejected,
                    alarms = outcome.response.alarms.len(),
                    "triaged"
                );
                println!("{}", outcome.emf);
                Ok(outcome.response)
            }
            Err(e) => {
                tracing::error!(request_id, retryable = e.retryable(), error = %e, "event refused");
                Err(e)
            }
        }
    }

    /// Decode, classify, diagnose: the whole handler minus its side effects.
    pub fn triage(&self, event: Value, now_ms: i64) -> Result<Outcome, TriageError> {
        let decoded = decode_value(event)?;
        let mut diagnoser = Diagnoser::new(self.classifier);
        let mut response = TriageResponse {
            trigger: decoded.trigger,
            diagnosis: Diagnoser::new(self.classifier).finish(),
            plan: Vec::new(),
            incident: None,
            alarms: Vec::new(),
            tick: None,
            request: None,
            rejected: Vec::new(),
        };
        for signal in decoded.signals {
            match signal {
                Signal::Logs(batch) => {
                    diagnoser.add_batch(&batch);
                    response.rejected.extend(batch.rejected);
                }
                Signal::Alarm(alarm) => response.alarms.push(alarm),
                Signal::Tick(tick) => response.tick = Some(tick),
                Signal::Manual(request) => {
                    if let ManualRequest::Classify { lines } = &request {
                        let batch = batch_from_lines(lines.iter().map(String::as_str));
                        diagnoser.add_batch(&batch);
                        response.rejected.extend(batch.rejected);
                    }
                    response.request = Some(match request {
                        // Echo the request without its lines: they are in the diagnosis.
                        ManualRequest::Classify { .. } => {
                            ManualRequest::Classify { lines: Vec::new() }
                        }
                        other => other,
                    });
                }
            }
        }
        response.rejected.truncate(MAX_REJECTED_IN_RESPONSE);
        response.diagnosis = diagnoser.finish();
        let emf = diagnosis_emf(&self.function_name, &response.diagnosis, now_ms);
        Ok(Outcome { response, emf })
    }
}

/// Milliseconds since the epoch, for metric timestamps.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decode_errors_are_not_retryable_and_say_so() {
        let e = Triage::new("triage")
            .triage(json!({"hello": "world"}), 0)
            .err()
            .unwrap();
        assert!(!e.retryable());
        let d = Diagnostic::from(e);
        assert_eq!(d.error_type, "NonRetryable");
        assert!(d.error_message.contains("hello"), "{}", d.error_message);
    }

    #[test]
    fn manual_classify_is_diagnosed_and_its_lines_not_echoed() {
        let out = Triage::new("triage")
            .triage(
                json!({"action": "classify", "lines": ["BankID OAuth error: invalid_client client_secret=hunter2"]}),
                1_764_849_600_000,
            )
            .unwrap();
        let body = serde_json::to_string(&out.response).unwrap();
        assert!(!body.contains("hunter2"), "{body}");
        assert_eq!(
            out.response.diagnosis.cause.map(|c| c.id()),
            Some("invalid_credentials")
        );
        assert!(out.emf.contains("\"invalid_credentials\":1"));
    }
}
