//! The one signal type every trigger decodes into.

use crate::decode::MAX_LINE_BYTES;
use serde::{Deserialize, Serialize};
use std::ops::Range;

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

impl Trigger {
    /// The snake_case id used in responses and logs.
    pub const fn id(self) -> &'static str {
        match self {
            Trigger::LogsSubscription => "logs_subscription",
            Trigger::LogsControl => "logs_control",
            Trigger::AlarmAction => "alarm_action",
            Trigger::AlarmSns => "alarm_sns",
            Trigger::AlarmEventBridge => "alarm_event_bridge",
            Trigger::Schedule => "schedule",
            Trigger::Manual => "manual",
        }
    }
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
///
/// The messages are stored back to back in one string, separated by `\n`, so a batch costs one
/// allocation rather than one per line and the classifier can scan it in a single pass (no
/// needle contains a newline, so no match spans two lines).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LogBatch {
    /// `None` for lines that did not come from CloudWatch (a manual `classify`, a file).
    pub log_group: Option<String>,
    pub log_stream: Option<String>,
    text: String,
    ids: String,
    lines: Vec<LineSpan>,
    /// Lines refused (too long to classify), each with the reason; the rest of the batch is kept.
    pub rejected: Vec<RejectedLine>,
}

#[derive(Debug, Clone, PartialEq)]
struct LineSpan {
    message: Range<usize>,
    id: Option<Range<usize>>,
    timestamp_ms: Option<i64>,
}

/// One line of a [`LogBatch`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LogLine<'a> {
    /// CloudWatch's event id: the idempotency key of a log-triggered action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a str>,
    /// Milliseconds since the epoch, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp_ms: Option<i64>,
    pub message: &'a str,
}

impl LogBatch {
    pub fn new(log_group: Option<String>, log_stream: Option<String>) -> Self {
        LogBatch {
            log_group,
            log_stream,
            ..LogBatch::default()
        }
    }

    /// Adds a line, or records it in [`LogBatch::rejected`] when it is longer than
    /// [`MAX_LINE_BYTES`].
    pub fn push(&mut self, id: Option<&str>, timestamp_ms: Option<i64>, message: &str) {
        if message.len() > MAX_LINE_BYTES {
            self.rejected.push(RejectedLine {
                id: id.unwrap_or_default().to_owned(),
                bytes: message.len(),
                reason: format!("line is longer than {MAX_LINE_BYTES} bytes; not classified"),
            });
            return;
        }
        if !self.lines.is_empty() {
            self.text.push('\n');
        }
        let start = self.text.len();
        self.text.push_str(message);
        let id = id.map(|id| {
            let start = self.ids.len();
            self.ids.push_str(id);
            start..self.ids.len()
        });
        self.lines.push(LineSpan {
            message: start..self.text.len(),
            id,
            timestamp_ms,
        });
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn line(&self, i: usize) -> LogLine<'_> {
        let span = &self.lines[i];
        LogLine {
            id: span.id.clone().map(|r| &self.ids[r]),
            timestamp_ms: span.timestamp_ms,
            message: &self.text[span.message.clone()],
        }
    }

    pub fn lines(&self) -> impl ExactSizeIterator<Item = LogLine<'_>> + '_ {
        (0..self.lines.len()).map(|i| self.line(i))
    }

    /// All messages, `\n`-separated, and where each one sits in that text.
    pub fn text_and_spans(&self) -> (&str, impl ExactSizeIterator<Item = Range<usize>> + '_) {
        (&self.text, self.lines.iter().map(|l| l.message.clone()))
    }
}

impl Serialize for LogBatch {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut s = serializer.serialize_struct("LogBatch", 4)?;
        s.serialize_field("log_group", &self.log_group)?;
        s.serialize_field("log_stream", &self.log_stream)?;
        s.serialize_field("lines", &self.lines().collect::<Vec<_>>())?;
        if !self.rejected.is_empty() {
            s.serialize_field("rejected", &self.rejected)?;
        }
        s.end()
    }
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
    /// What would be done now for the recent logs; nothing mutates.
    Plan {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minutes: Option<u32>,
    },
    /// A follow-up tick now, as the schedule would send. (A struct variant, so that unknown
    /// fields are refused like everywhere else.)
    Tick {},
    /// Stops the paging rungs and repeats; verification goes on.
    Ack { incident: String, by: String },
    /// Closes the incident by hand.
    Resolve {
        incident: String,
        by: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    /// Approves the demo-mode fallback with the token the approval request carried.
    ApproveFallback {
        incident: String,
        /// Never echoed: it is a credential.
        #[serde(skip_serializing)]
        token: String,
        by: String,
    },
    /// Returns the service to live mode now.
    RevertFallback { incident: String, by: String },
    /// The incident's markdown report.
    Report { incident: String },
}

impl ManualRequest {
    /// The longest look-back a `diagnose` accepts: a longer window reads stale history, not the incident.
    pub const MAX_DIAGNOSE_MINUTES: u32 = 180;
    pub const DEFAULT_DIAGNOSE_MINUTES: u32 = 10;

    /// The action's name, as sent in `"action"`.
    pub fn name(&self) -> &'static str {
        match self {
            ManualRequest::Classify { .. } => "classify",
            ManualRequest::Status { .. } => "status",
            ManualRequest::Diagnose { .. } => "diagnose",
            ManualRequest::Plan { .. } => "plan",
            ManualRequest::Tick {} => "tick",
            ManualRequest::Ack { .. } => "ack",
            ManualRequest::Resolve { .. } => "resolve",
            ManualRequest::ApproveFallback { .. } => "approve_fallback",
            ManualRequest::RevertFallback { .. } => "revert_fallback",
            ManualRequest::Report { .. } => "report",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_ids_are_their_serde_names() {
        for t in [
            Trigger::LogsSubscription,
            Trigger::LogsControl,
            Trigger::AlarmAction,
            Trigger::AlarmSns,
            Trigger::AlarmEventBridge,
            Trigger::Schedule,
            Trigger::Manual,
        ] {
            assert_eq!(serde_json::to_value(t).unwrap(), t.id());
        }
    }

    #[test]
    fn a_batch_keeps_lines_apart_and_refuses_oversized_ones() {
        let mut batch = LogBatch::new(Some("g".into()), None);
        batch.push(Some("a"), Some(1), "first\nwith a newline");
        batch.push(None, None, &"x".repeat(MAX_LINE_BYTES + 1));
        batch.push(Some("c"), Some(3), "");
        assert_eq!(batch.len(), 2);
        assert_eq!(batch.line(0).message, "first\nwith a newline");
        assert_eq!(
            batch.line(1),
            LogLine {
                id: Some("c"),
                timestamp_ms: Some(3),
                message: ""
            }
        );
        assert_eq!(batch.rejected.len(), 1);
        assert_eq!(batch.rejected[0].bytes, MAX_LINE_BYTES + 1);
        let json = serde_json::to_value(&batch).unwrap();
        assert_eq!(json["lines"][1]["id"], "c");
        assert_eq!(json["rejected"][0]["id"], "");
    }
}
