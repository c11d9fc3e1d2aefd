//! The escalate Lambda: the follow-up of open incidents, every minute, and the manual actions.
//!
//! EventBridge Scheduler (or `{"action":"tick"}` by hand) runs a tick: owed pages, the App
//! Runner operation, the fallback, verification, and the escalation ladder
//! ([`remediator_adapters::followup::Desk`]). People send `ack`, `resolve`, `approve_fallback`,
//! `revert_fallback`, `status` and `report` here with `aws lambda invoke`. `main.rs` only wires
//! tracing, configuration and the runtime.

use lambda_runtime::{Diagnostic, LambdaEvent};
use remediator_adapters::followup::{Desk, DeskAnswer, DeskError};
use remediator_adapters::AdapterError;
use remediator_core::decode::{decode_value, DecodeError};
use remediator_core::settings::{ConfigError, Settings};
use remediator_core::{ManualRequest, Signal};
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum EscalateError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// Not for this function, or refused (a wrong token, an unknown incident).
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Retryable(String),
}

impl EscalateError {
    pub fn retryable(&self) -> bool {
        matches!(self, EscalateError::Retryable(_))
    }
}

impl From<DeskError> for EscalateError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::Adapter(AdapterError::Retryable(m)) => EscalateError::Retryable(m),
            DeskError::Adapter(AdapterError::Permanent(m)) => EscalateError::Refused(m),
            other => EscalateError::Refused(other.to_string()),
        }
    }
}

impl From<EscalateError> for Diagnostic {
    fn from(e: EscalateError) -> Self {
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

pub struct Escalate {
    desk: Desk,
}

impl Escalate {
    /// Reads the environment once and builds every client; a bad variable fails the cold start.
    pub async fn from_env() -> Result<Self, ConfigError> {
        let settings = Settings::from_env()?;
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(remediator_adapters::sdk_timeouts())
            .load()
            .await;
        let remediator = remediator_adapters::from_sdk_config(settings, &aws);
        Ok(Escalate::new(remediator_adapters::desk_from_sdk_config(
            remediator, &aws,
        )))
    }

    pub fn new(desk: Desk) -> Self {
        Escalate { desk }
    }

    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<DeskAnswer, EscalateError> {
        // Boxed: the nested future is too deep for the compiler to lay out inline.
        Box::pin(self.handle_at(event, now_ms())).await
    }

    /// [`Self::handle`] at `now_ms` (injected, so tests see what it logs over a whole incident).
    pub async fn handle_at(
        &self,
        event: LambdaEvent<Value>,
        now_ms: i64,
    ) -> Result<DeskAnswer, EscalateError> {
        let request_id = event.context.request_id.clone();
        match self.escalate(event.payload, &request_id, now_ms).await {
            Ok(answer) => {
                tracing::info!(
                    request_id,
                    incident = answer.incident.as_ref().map(|i| i.id.as_str()),
                    status = answer.incident.as_ref().map(|i| i.status.id()),
                    did = ?answer.did,
                    "escalated"
                );
                Ok(answer)
            }
            Err(e) => {
                tracing::error!(request_id, retryable = e.retryable(), error = %e, "refused");
                Err(e)
            }
        }
    }

    /// A tick or a manual action at `now_ms` (injected, so tests run the ladder in milliseconds).
    pub async fn escalate(
        &self,
        event: Value,
        request_id: &str,
        now_ms: i64,
    ) -> Result<DeskAnswer, EscalateError> {
        let decoded = decode_value(event)?;
        let [signal] = decoded.signals.as_slice() else {
            return Err(not_here());
        };
        let desk = &self.desk;
        let owner = request_id;
        Ok(match signal {
            Signal::Tick(_) | Signal::Manual(ManualRequest::Tick {}) => {
                desk.tick(owner, now_ms).await?
            }
            Signal::Manual(request) => match request {
                ManualRequest::Ack { incident, by } => {
                    desk.ack(incident, by, owner, now_ms).await?
                }
                ManualRequest::Resolve { incident, by, note } => {
                    desk.resolve(incident, by, note.as_deref(), owner, now_ms)
                        .await?
                }
                ManualRequest::ApproveFallback {
                    incident,
                    token,
                    by,
                } => {
                    desk.approve_fallback(incident, token, by, owner, now_ms)
                        .await?
                }
                ManualRequest::RevertFallback { incident, by } => {
                    desk.revert_fallback(incident, by, owner, now_ms).await?
                }
                ManualRequest::Status { incident } => {
                    desk.status(incident.as_deref(), now_ms).await?
                }
                ManualRequest::Report { incident } => desk.report(incident, now_ms).await?,
                _ => return Err(not_here()),
            },
            _ => return Err(not_here()),
        })
    }
}

fn not_here() -> EscalateError {
    EscalateError::Refused(
        "escalate takes schedule ticks and the actions tick, status, ack, resolve, approve_fallback, revert_fallback and report; log events, alarms, classify, diagnose and plan go to triage".into(),
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
