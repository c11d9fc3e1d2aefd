//! The triage Lambda: any trigger in, a diagnosis and the runbook's fixes out.
//!
//! `main.rs` only wires tracing, configuration and the runtime; everything testable lives here.
//! The handler decodes the event ([`remediator_core::decode`]), classifies every log line it
//! carries, and, when remediation is configured, hands the diagnosis to the engine
//! ([`remediator_adapters::engine`]) under the signal's idempotency key. It answers
//! `{"trigger", "diagnosis", "plan", "actions", "incident", …}`, logs structured fields (never a
//! raw log line) and emits one Embedded Metric Format line per invocation.

use lambda_runtime::{Diagnostic, LambdaEvent};
use remediator_adapters::engine::{Remediator, Report};
use remediator_adapters::followup::{Desk, DeskError, IncidentView};
use remediator_adapters::AdapterError;
use remediator_core::classify::{classifier, Classifier};
use remediator_core::decode::{batch_from_lines, decode_value, DecodeError};
use remediator_core::diagnosis::{Diagnoser, Diagnosis};
use remediator_core::metrics::diagnosis_emf;
use remediator_core::settings::ConfigError;
use remediator_core::signal::{AlarmSignal, RejectedLine, Signal, TickSignal, Trigger};
use remediator_core::ManualRequest;
use serde::Serialize;
use serde_json::Value;

/// Rejected-line reasons echoed in one response; the count in the diagnosis is always complete.
const MAX_REJECTED_IN_RESPONSE: usize = 20;

/// Variables that switch remediation on; with none of them set, triage only diagnoses.
const REMEDIATION_VARIABLES: &[&str] =
    &["APPRUNNER_SERVICE_ARN", "BANKID_SECRET_ID", "STATE_TABLE"];

#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The event can never be processed: retrying it would fail the same way.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// A dependency failed in a way a retry can fix (throttling, 5xx, unreachable, lock held).
    #[error("{0}")]
    Retryable(String),
    /// A dependency refused for good; nothing was half-done.
    #[error("{0}")]
    Permanent(String),
}

impl From<DeskError> for TriageError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::Adapter(e) => e.into(),
            other => TriageError::Permanent(other.to_string()),
        }
    }
}

impl From<AdapterError> for TriageError {
    fn from(e: AdapterError) -> Self {
        match e {
            AdapterError::Retryable(m) => TriageError::Retryable(m),
            AdapterError::Permanent(m) => TriageError::Permanent(m),
        }
    }
}

impl TriageError {
    pub fn retryable(&self) -> bool {
        matches!(self, TriageError::Retryable(_))
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
    /// `enabled` when the engine acts on diagnoses, `disabled` when triage only diagnoses.
    pub remediation: &'static str,
    /// The configuration check, the plan with reasons, each action's decision and outcome, and
    /// the earlier result when this signal was handled before.
    #[serde(flatten)]
    pub report: Report,
    /// The incident this signal folded into (or, for `status`, the one asked about).
    pub incident: Option<IncidentView>,
    /// Lines read from the app's log group, for a signal that carried none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logs_read: Option<usize>,
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
    remediator: Option<Remediator>,
    desk: Option<Desk>,
}

impl Triage {
    /// Reads the environment once and builds every client. With none of the remediation
    /// variables set, triage only diagnoses (and says so in every response); with any set, all
    /// must be valid or the cold start fails naming the variable.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let function_name =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "triage".to_owned());
        let configured = REMEDIATION_VARIABLES
            .iter()
            .any(|name| std::env::var_os(name).is_some());
        if !configured {
            tracing::warn!("remediation is disabled: none of APPRUNNER_SERVICE_ARN, BANKID_SECRET_ID, STATE_TABLE is set");
            return Ok(Triage::new(function_name));
        }
        let settings = remediator_core::settings::Settings::from_env()?;
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(remediator_adapters::sdk_timeouts())
            .load()
            .await;
        let remediator = remediator_adapters::from_sdk_config(settings, &aws);
        let desk = remediator_adapters::desk_from_sdk_config(remediator, &aws);
        Ok(Triage::new(function_name).with_desk(desk))
    }

    /// Diagnosis only.
    pub fn new(function_name: impl Into<String>) -> Self {
        Triage {
            function_name: function_name.into(),
            classifier: classifier(),
            remediator: None,
            desk: None,
        }
    }

    /// Remediation without incidents (no pages, no follow-up).
    pub fn with_remediator(mut self, remediator: Remediator) -> Self {
        self.remediator = Some(remediator);
        self
    }

    /// Remediation, and every signal folded into the service's incident.
    pub fn with_desk(mut self, desk: Desk) -> Self {
        self.remediator = Some(desk.remediator().clone());
        self.desk = Some(desk);
        self
    }

    /// The Lambda entry point: handles the event, logs, prints the metrics line.
    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<TriageResponse, TriageError> {
        // Boxed: the nested future is too deep for the compiler to lay out inline.
        Box::pin(self.handle_at(event, now_ms())).await
    }

    /// [`Self::handle`] at `now_ms` (injected, so tests see what it logs over a whole incident).
    pub async fn handle_at(
        &self,
        event: LambdaEvent<Value>,
        now_ms: i64,
    ) -> Result<TriageResponse, TriageError> {
        let request_id = event.context.request_id.clone();
        match self.triage(event.payload, &request_id, now_ms).await {
            Ok(outcome) => {
                let r = &outcome.response;
                tracing::info!(
                    request_id,
                    trigger = r.trigger.id(),
                    cause = r.diagnosis.cause.map(|c| c.id()),
                    confidence = r.diagnosis.confidence,
                    lines_examined = r.diagnosis.lines_examined,
                    lines_rejected = r.diagnosis.lines_rejected,
                    alarms = r.alarms.len(),
                    planned = r.report.plan.len(),
                    duplicate = r.report.duplicate_of.is_some(),
                    "triaged"
                );
                for action in &r.report.actions {
                    tracing::info!(request_id, action = ?action.action, decision = ?action.decision, outcome = ?action.outcome, "action");
                }
                println!("{}", outcome.emf);
                Ok(outcome.response)
            }
            Err(e) => {
                tracing::error!(request_id, retryable = e.retryable(), error = %e, "event refused");
                Err(e)
            }
        }
    }

    /// Decode, classify, diagnose, remediate: the whole handler minus logging.
    pub async fn triage(
        &self,
        event: Value,
        request_id: &str,
        now_ms: i64,
    ) -> Result<Outcome, TriageError> {
        let decoded = decode_value(event)?;
        let mut diagnoser = Diagnoser::new(self.classifier);
        let mut response = TriageResponse {
            trigger: decoded.trigger,
            diagnosis: Diagnoser::new(self.classifier).finish(),
            remediation: if self.remediator.is_some() {
                "enabled"
            } else {
                "disabled"
            },
            report: Report::default(),
            incident: None,
            logs_read: None,
            alarms: Vec::new(),
            tick: None,
            request: None,
            rejected: Vec::new(),
        };
        let mut keys = Vec::new();
        let mut alarms_ok = Vec::new();
        let mut status_of: Option<Option<String>> = None;
        let mut preview = false;
        // Signals without lines (an alarm entering ALARM, a manual diagnose) read the recent
        // logs instead, as the runbook's step 2 does.
        let mut fetch_minutes: Option<u32> = None;
        for signal in decoded.signals {
            match signal {
                Signal::Logs(batch) => {
                    diagnoser.add_batch(&batch);
                    if let (Some(first), Some(last)) = (batch.lines().next(), batch.lines().last())
                    {
                        keys.push(format!(
                            "logs:{}:{}:{}:{}",
                            batch.log_group.as_deref().unwrap_or_default(),
                            first.id.unwrap_or_default(),
                            last.id.unwrap_or_default(),
                            batch.len()
                        ));
                    }
                    response.rejected.extend(batch.rejected);
                }
                Signal::Alarm(alarm) => {
                    keys.push(format!("alarm:{}", alarm.idempotency_key()));
                    if alarm.state == remediator_core::signal::AlarmState::Alarm {
                        fetch_minutes = Some(ManualRequest::DEFAULT_DIAGNOSE_MINUTES);
                    }
                    if alarm.state == remediator_core::signal::AlarmState::Ok {
                        alarms_ok.push(alarm.alarm_name.clone());
                    }
                    response.alarms.push(alarm);
                }
                Signal::Tick(tick) => response.tick = Some(tick),
                Signal::Manual(request) => {
                    if let ManualRequest::Classify { lines } = &request {
                        let batch = batch_from_lines(lines.iter().map(String::as_str));
                        diagnoser.add_batch(&batch);
                        response.rejected.extend(batch.rejected);
                    }
                    match &request {
                        ManualRequest::Diagnose { minutes } => {
                            fetch_minutes =
                                Some(minutes.unwrap_or(ManualRequest::DEFAULT_DIAGNOSE_MINUTES));
                        }
                        ManualRequest::Plan { minutes } => {
                            fetch_minutes =
                                Some(minutes.unwrap_or(ManualRequest::DEFAULT_DIAGNOSE_MINUTES));
                            preview = true;
                        }
                        ManualRequest::Status { incident } => status_of = Some(incident.clone()),
                        ManualRequest::Classify { .. } => {}
                        other => {
                            return Err(TriageError::Permanent(format!(
                            "manual action \"{}\" is taken by the escalate function, not triage",
                            other.name()
                        )))
                        }
                    }
                    keys.push(format!("manual:{request_id}"));
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
        if let (Some(remediator), Some(minutes)) = (&self.remediator, fetch_minutes) {
            if let Some(batch) = remediator.recent_lines(now_ms, minutes).await? {
                response.logs_read = Some(batch.len() + batch.rejected.len());
                diagnoser.add_batch(&batch);
                response.rejected.extend(batch.rejected);
            }
        }
        response.rejected.truncate(MAX_REJECTED_IN_RESPONSE);
        response.diagnosis = diagnoser.finish();
        if let Some(remediator) = &self.remediator {
            if preview {
                response.report = remediator.preview(&response.diagnosis, now_ms).await?;
            } else if status_of.is_none() && !keys.is_empty() {
                response.report = remediator
                    .act(&response.diagnosis, &keys.join("+"), request_id, now_ms)
                    .await?;
            }
        }
        if let Some(desk) = &self.desk {
            if let Some(id) = &status_of {
                response.incident = desk.status(id.as_deref(), now_ms).await?.incident;
            } else if !preview {
                response.incident = desk
                    .fold(
                        response.trigger.id(),
                        &response.diagnosis,
                        &response.report,
                        &alarms_ok,
                        request_id,
                        now_ms,
                    )
                    .await?;
            }
        }
        // Settled last: if anything before failed, the redelivery does it again (adopting an
        // App Runner change already sent) and the incident still learns what was done.
        if let Some(remediator) = &self.remediator {
            if !preview && status_of.is_none() && !keys.is_empty() {
                remediator
                    .settle(&keys.join("+"), &response.report, now_ms)
                    .await?;
            }
        }
        let emf = diagnosis_emf(&self.function_name, &response.diagnosis, now_ms);
        Ok(Outcome { response, emf })
    }
}

/// Milliseconds since the epoch, for metric timestamps and the engine's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn decode_errors_are_not_retryable_and_say_so() {
        let e = Triage::new("triage")
            .triage(json!({"hello": "world"}), "req", 0)
            .await
            .err()
            .unwrap();
        assert!(!e.retryable());
        let d = Diagnostic::from(e);
        assert_eq!(d.error_type, "NonRetryable");
        assert!(d.error_message.contains("hello"), "{}", d.error_message);
        let d = Diagnostic::from(TriageError::from(AdapterError::Retryable(
            "lock held".into(),
        )));
        assert_eq!(d.error_type, "Retryable");
    }

    #[tokio::test]
    async fn manual_classify_is_diagnosed_and_its_lines_not_echoed() {
        let out = Triage::new("triage")
            .triage(
                json!({"action": "classify", "lines": ["BankID OAuth error: invalid_client client_secret=hunter2"]}),
                "req",
                1_764_849_600_000,
            )
            .await
            .unwrap();
        let body = serde_json::to_string(&out.response).unwrap();
        assert!(!body.contains("hunter2"), "{body}");
        assert_eq!(
            out.response.diagnosis.cause.map(|c| c.id()),
            Some("invalid_credentials")
        );
        assert_eq!(out.response.remediation, "disabled");
        assert!(out.emf.contains("\"invalid_credentials\":1"));
    }
}
