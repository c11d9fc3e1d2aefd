//! The one signal type every trigger decodes into.

use serde::{Deserialize, Serialize};

/// Which shape of event arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// CloudWatch Logs subscription filter, `DATA_MESSAGE`.
    LogsSubscription,
    /// CloudWatch Logs subscription filter, `CONTROL_MESSAGE` (a reachability check: ignored).
    LogsControl,
    /// A CloudWatch alarm whose action invokes the function directly.
    AlarmAction,
    /// A CloudWatch alarm notification delivered through SNS.
    AlarmSns,
    /// EventBridge "CloudWatch Alarm State Change".
    AlarmEventBridge,
    /// EventBridge Scheduler (or an EventBridge schedule rule) tick.
    Schedule,
    /// `{"action": …}` sent by a person.
    Manual,
}

/// What an event says, independent of how it arrived.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Signal {
    Logs(LogBatch),
    Alarm(AlarmSignal),
    Tick(TickSignal),
    Manual(ManualRequest),
}

/// Log lines to classify, with where they came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LogBatch {
    /// `None` for lines that did not come from CloudWatch (a manual `classify`).
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
    pub lines: Vec<LogLine>,
    /// Lines refused (too long to classify), each with the reason; the rest of the batch is kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rejected: Vec<RejectedLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogLine {
    /// CloudWatch's event id: the idempotency key of a log-triggered action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Milliseconds since the epoch, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejectedLine {
    /// The CloudWatch event id, or the 1-based position for lines without one.
    pub id: String,
    pub bytes: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AlarmState {
    Ok,
    Alarm,
    InsufficientData,
}

/// A CloudWatch alarm changed state. Alarms carry no log lines: they are fetched during diagnosis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlarmSignal {
    pub alarm_name: String,
    pub alarm_arn: Option<String>,
    pub state: AlarmState,
    pub previous_state: Option<AlarmState>,
    pub reason: String,
    /// When the alarm entered `state`, as CloudWatch wrote it.
    pub state_timestamp: String,
    pub region: Option<String>,
    pub account: Option<String>,
    /// The metric the alarm watches, when it watches a single one.
    pub metric: Option<MetricRef>,
}

impl AlarmSignal {
    /// The same alarm transition delivered twice gives the same key.
    pub fn idempotency_key(&self) -> String {
        let alarm = self.alarm_arn.as_deref().unwrap_or(&self.alarm_name);
        format!("{alarm}@{}", self.state_timestamp)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRef {
    pub namespace: Option<String>,
    pub name: String,
}

/// A scheduled follow-up tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TickSignal {
    /// `aws.scheduler` or `aws.events`.
    pub source: String,
    /// The scheduled time, as the scheduler wrote it.
    pub time: Option<String>,
    /// The schedule or rule ARN.
    pub schedule: Option<String>,
}

/// A person's request, `{"action": …}`. Unknown actions and unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum ManualRequest {
    /// Classify the given lines as if they had arrived from the log group.
    Classify { lines: Vec<String> },
    /// The current incident, if any.
    Status {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        incident: Option<String>,
    },
    /// Run the runbook's diagnosis now over the last `minutes` of logs (default 10, as the runbook).
    Diagnose {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minutes: Option<u32>,
    },
}

impl ManualRequest {
    /// The longest look-back a `diagnose` accepts: a longer window reads stale history, not the incident.
    pub const MAX_DIAGNOSE_MINUTES: u32 = 180;
    pub const DEFAULT_DIAGNOSE_MINUTES: u32 = 10;
}
