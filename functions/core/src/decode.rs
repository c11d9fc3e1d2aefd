//! Decoding every trigger shape into [`Signal`]s.
//!
//! The shape is recognised by its top-level keys, then parsed strictly: a wrong shape is an error
//! that names what was expected, never a guess. Error texts never quote payload values (they may
//! hold secrets); where a parser's message might, it is passed through [`crate::redact`].

use crate::signal::{
    AlarmSignal, AlarmState, LogBatch, ManualRequest, MetricRef, Signal, TickSignal, Trigger,
};
use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarm, CloudWatchAlarmStateValue};
use aws_lambda_events::event::cloudwatch_logs::LogData;
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use base64::Engine;
use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::io::Read;
use std::sync::LazyLock;

/// Longest log line that is classified. CloudWatch accepts longer events; such a line is reported
/// in [`LogBatch::rejected`] and the rest of its batch is still classified.
pub const MAX_LINE_BYTES: usize = 256 * 1024;
/// Cap on an inflated CloudWatch Logs payload, so a small gzip bomb cannot exhaust memory.
pub const MAX_INFLATED_BYTES: usize = 64 * 1024 * 1024;
/// Lines one manual `classify` may carry.
pub const MAX_MANUAL_LINES: usize = 10_000;

const EXPECTED_SHAPES: &str = "a CloudWatch Logs subscription {\"awslogs\":{\"data\":…}}, \
a CloudWatch alarm action {\"source\":\"aws.cloudwatch\",\"alarmData\":…}, \
an SNS notification {\"Records\":[{\"Sns\":…}]}, \
an EventBridge event with detail-type \"CloudWatch Alarm State Change\" or \"Scheduled Event\", \
or a manual action {\"action\":\"classify\"|\"status\"|\"diagnose\"|\"plan\"|\"tick\"|\"ack\"|\"resolve\"|\"approve_fallback\"|\"revert_fallback\"|\"report\",…}";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecodeError {
    #[error("event is not JSON: {0}")]
    NotJson(String),
    #[error("event is a JSON {0}; expected an object: {EXPECTED_SHAPES}")]
    NotAnObject(&'static str),
    #[error("unrecognised event with top-level keys [{0}]; expected {EXPECTED_SHAPES}")]
    UnknownShape(String),
    #[error("CloudWatch Logs event: {0}")]
    Logs(String),
    #[error("SNS event: {0}")]
    Sns(String),
    #[error("CloudWatch alarm event: {0}")]
    Alarm(String),
    #[error("EventBridge event: {0}")]
    EventBridge(String),
    #[error("manual action: {0}")]
    Manual(String),
}

/// What one event decoded into.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Decoded {
    pub trigger: Trigger,
    pub signals: Vec<Signal>,
}

/// Decodes raw event bytes (what `remediator decode` and the benchmarks read).
pub fn decode_slice(bytes: &[u8]) -> Result<Decoded, DecodeError> {
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(DecodeError::NotJson(format!(
            "not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        )));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| DecodeError::NotJson(safe(&e)))?;
    decode_value(value)
}

/// Decodes an event the Lambda runtime has already parsed.
pub fn decode_value(value: Value) -> Result<Decoded, DecodeError> {
    let map = match value {
        Value::Object(map) => map,
        other => return Err(DecodeError::NotAnObject(json_type(&other))),
    };
    if map.contains_key("awslogs") {
        return decode_logs(map);
    }
    if map.contains_key("Records") {
        return decode_sns(map);
    }
    if map.contains_key("action") {
        return decode_manual(map);
    }
    if map.contains_key("alarmData") {
        return decode_alarm_action(map);
    }
    if let Some(detail_type) = map.get("detail-type") {
        return match detail_type.as_str() {
            Some("CloudWatch Alarm State Change") => decode_alarm_eventbridge(map),
            Some("Scheduled Event") => decode_schedule(map),
            _ => Err(DecodeError::EventBridge(format!(
                "detail-type {} is not handled; expected \"CloudWatch Alarm State Change\" or \"Scheduled Event\"",
                short(detail_type)
            ))),
        };
    }
    let mut keys: Vec<&str> = map.keys().map(String::as_str).take(10).collect();
    keys.sort_unstable();
    Err(DecodeError::UnknownShape(
        keys.iter()
            .map(|k| crate::redact::truncate(k, 40))
            .collect::<Vec<_>>()
            .join(", "),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsEnvelope {
    awslogs: LogsData,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsData {
    data: String,
}

fn decode_logs(map: Map<String, Value>) -> Result<Decoded, DecodeError> {
    let envelope: LogsEnvelope = serde_json::from_value(Value::Object(map)).map_err(|e| {
        DecodeError::Logs(format!(
            "{}; expected {{\"awslogs\":{{\"data\":\"<base64 of gzip>\"}}}}",
            safe(&e)
        ))
    })?;
    let mut payload = inflate_logs_data(&envelope.awslogs.data)?;
    decode_logs_payload(&mut payload)
}

/// The inflated CloudWatch Logs payload. Strings borrow from the payload buffer (unescaped in
/// place), so parsing a batch allocates nothing per line.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogsPayload<'a> {
    message_type: &'a str,
    log_group: &'a str,
    log_stream: &'a str,
    #[serde(borrow)]
    log_events: Vec<LogsEvent<'a>>,
}

#[derive(Deserialize)]
struct LogsEvent<'a> {
    id: &'a str,
    timestamp: i64,
    message: &'a str,
}

/// Parses an inflated payload (which is unescaped in place) into signals.
pub fn decode_logs_payload(payload: &mut [u8]) -> Result<Decoded, DecodeError> {
    // Checked first, and by std, for an error that says where.
    if let Err(e) = std::str::from_utf8(payload) {
        return Err(DecodeError::Logs(format!(
            "the inflated payload is not valid UTF-8 (first bad byte at offset {})",
            e.valid_up_to()
        )));
    }
    let data: LogsPayload<'_> = simd_json::serde::from_slice(payload).map_err(|e| {
        DecodeError::Logs(format!(
            "the inflated payload is not the CloudWatch Logs JSON ({}); expected \
             {{\"messageType\",\"owner\",\"logGroup\",\"logStream\",\"subscriptionFilters\",\"logEvents\":[{{\"id\",\"timestamp\",\"message\"}}]}}",
            safe(&e)
        ))
    })?;
    match data.message_type {
        "CONTROL_MESSAGE" => Ok(Decoded {
            trigger: Trigger::LogsControl,
            signals: Vec::new(),
        }),
        "DATA_MESSAGE" => {
            let mut batch = LogBatch::new(
                Some(data.log_group.to_owned()),
                Some(data.log_stream.to_owned()),
            );
            for event in &data.log_events {
                batch.push(Some(event.id), Some(event.timestamp), event.message);
            }
            Ok(Decoded {
                trigger: Trigger::LogsSubscription,
                signals: vec![Signal::Logs(batch)],
            })
        }
        other => Err(DecodeError::Logs(format!(
            "messageType {:?} is not handled; expected DATA_MESSAGE or CONTROL_MESSAGE",
            crate::redact::truncate(other, 40)
        ))),
    }
}

/// Base64, then gzip, as CloudWatch Logs delivers `awslogs.data`.
pub fn inflate_logs_data(data: &str) -> Result<Vec<u8>, DecodeError> {
    let compressed = base64::engine::general_purpose::STANDARD
        .decode(data.trim_end())
        .map_err(|e| DecodeError::Logs(format!("awslogs.data is not valid base64 ({e})")))?;
    // gzip's trailer holds the inflated size (mod 2^32): size the buffer once.
    let trailer_size = compressed
        .last_chunk::<4>()
        .map_or(0, |t| u32::from_le_bytes(*t) as usize);
    let mut inflated = Vec::with_capacity(trailer_size.min(MAX_INFLATED_BYTES) + 1);
    flate2::read::GzDecoder::new(compressed.as_slice())
        .take(MAX_INFLATED_BYTES as u64 + 1)
        .read_to_end(&mut inflated)
        .map_err(|e| DecodeError::Logs(format!("awslogs.data is not valid gzip ({e})")))?;
    if inflated.len() > MAX_INFLATED_BYTES {
        return Err(DecodeError::Logs(format!(
            "awslogs.data inflates to more than {MAX_INFLATED_BYTES} bytes"
        )));
    }
    Ok(inflated)
}

/// Builds a batch from plain lines (a manual `classify`, a file), numbering them from 1.
pub fn batch_from_lines<'a, I: IntoIterator<Item = &'a str>>(lines: I) -> LogBatch {
    let mut batch = LogBatch::default();
    for (i, message) in lines.into_iter().enumerate() {
        batch.push(Some(&(i + 1).to_string()), None, message);
    }
    batch
}

/// The alarm notification CloudWatch publishes to SNS. Fields CloudWatch may send as null are optional.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsAlarmMessage {
    alarm_name: String,
    alarm_arn: Option<String>,
    new_state_value: AlarmState,
    old_state_value: Option<AlarmState>,
    #[serde(default)]
    new_state_reason: Option<String>,
    state_change_time: String,
    region: Option<String>,
    #[serde(rename = "AWSAccountId")]
    aws_account_id: Option<String>,
    trigger: Option<SnsAlarmTrigger>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SnsAlarmTrigger {
    metric_name: Option<String>,
    namespace: Option<String>,
}

fn decode_sns(map: Map<String, Value>) -> Result<Decoded, DecodeError> {
    let event: SnsEvent = serde_json::from_value(Value::Object(map)).map_err(|e| {
        DecodeError::Sns(format!(
            "{}; expected {{\"Records\":[{{\"EventSource\":\"aws:sns\",\"Sns\":{{…,\"Message\":…}}}}]}}",
            safe(&e)
        ))
    })?;
    if event.records.is_empty() {
        return Err(DecodeError::Sns("Records is empty".into()));
    }
    let mut signals = Vec::with_capacity(event.records.len());
    for (i, record) in event.records.into_iter().enumerate() {
        if record.event_source != "aws:sns" {
            return Err(DecodeError::Sns(format!(
                "record {i} has EventSource {:?}; expected \"aws:sns\"",
                crate::redact::truncate(&record.event_source, 40)
            )));
        }
        let alarm: SnsAlarmMessage = serde_json::from_str(&record.sns.message).map_err(|e| {
            DecodeError::Sns(format!(
                "record {i}: the message is not a CloudWatch alarm notification ({}); expected JSON with \
                 AlarmName, NewStateValue and StateChangeTime",
                safe(&e)
            ))
        })?;
        signals.push(Signal::Alarm(AlarmSignal {
            alarm_name: alarm.alarm_name,
            alarm_arn: alarm.alarm_arn,
            state: alarm.new_state_value,
            previous_state: alarm.old_state_value,
            reason: alarm.new_state_reason.unwrap_or_default(),
            state_timestamp: normalise_timestamp(&alarm.state_change_time)
                .map_err(|e| DecodeError::Sns(format!("record {i}: StateChangeTime {e}")))?,
            region: alarm.region,
            account: alarm.aws_account_id,
            metric: alarm.trigger.and_then(|t| {
                t.metric_name.map(|name| MetricRef {
                    namespace: t.namespace,
                    name,
                })
            }),
        }));
    }
    Ok(Decoded {
        trigger: Trigger::AlarmSns,
        signals,
    })
}

fn decode_alarm_action(map: Map<String, Value>) -> Result<Decoded, DecodeError> {
    let alarm: CloudWatchAlarm = serde_json::from_value(Value::Object(map)).map_err(|e| {
        DecodeError::Alarm(format!(
            "{}; expected {{\"source\":\"aws.cloudwatch\",\"alarmArn\",\"time\",\"alarmData\":{{\"alarmName\",\"state\":{{\"value\",\"reason\",\"timestamp\"}},\"configuration\"}}}}",
            safe(&e)
        ))
    })?;
    if alarm.source.as_deref() != Some("aws.cloudwatch") {
        return Err(DecodeError::Alarm(
            "source is not \"aws.cloudwatch\"".to_owned(),
        ));
    }
    let data = alarm.alarm_data;
    let state = data
        .state
        .ok_or_else(|| DecodeError::Alarm("alarmData.state is missing".into()))?;
    Ok(Decoded {
        trigger: Trigger::AlarmAction,
        signals: vec![Signal::Alarm(AlarmSignal {
            alarm_name: data.alarm_name,
            alarm_arn: alarm.alarm_arn,
            state: alarm_state(&state.value)?,
            previous_state: data
                .previous_state
                .map(|p| alarm_state(&p.value))
                .transpose()?,
            reason: state.reason,
            state_timestamp: format_utc(state.timestamp),
            region: alarm.region,
            account: alarm.account_id,
            metric: single_metric(&data.configuration),
        })],
    })
}

/// The `detail` of EventBridge's "CloudWatch Alarm State Change".
#[derive(Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct AlarmChangeDetail {
    alarm_name: String,
    state: AlarmChangeState,
    previous_state: Option<AlarmChangeState>,
    #[serde(default)]
    configuration: Value,
}

#[derive(Deserialize, serde::Serialize)]
struct AlarmChangeState {
    value: AlarmState,
    #[serde(default)]
    reason: String,
    timestamp: String,
}

fn decode_alarm_eventbridge(map: Map<String, Value>) -> Result<Decoded, DecodeError> {
    let event: EventBridgeEvent<AlarmChangeDetail> = serde_json::from_value(Value::Object(map))
        .map_err(|e| {
            DecodeError::EventBridge(format!(
                "{}; expected a \"CloudWatch Alarm State Change\" with detail {{\"alarmName\",\"state\":{{\"value\",\"reason\",\"timestamp\"}}}}",
                safe(&e)
            ))
        })?;
    if event.source != "aws.cloudwatch" {
        return Err(DecodeError::EventBridge(
            "a CloudWatch Alarm State Change must have source \"aws.cloudwatch\"".into(),
        ));
    }
    let detail = event.detail;
    Ok(Decoded {
        trigger: Trigger::AlarmEventBridge,
        signals: vec![Signal::Alarm(AlarmSignal {
            alarm_name: detail.alarm_name,
            alarm_arn: event.resources.and_then(|r| r.into_iter().next()),
            state: detail.state.value,
            previous_state: detail.previous_state.map(|p| p.value),
            reason: detail.state.reason,
            state_timestamp: normalise_timestamp(&detail.state.timestamp)
                .map_err(|e| DecodeError::EventBridge(format!("detail.state.timestamp {e}")))?,
            region: event.region,
            account: event.account,
            metric: single_metric(&detail.configuration),
        })],
    })
}

fn decode_schedule(map: Map<String, Value>) -> Result<Decoded, DecodeError> {
    let event: EventBridgeEvent<Value> =
        serde_json::from_value(Value::Object(map)).map_err(|e| {
            DecodeError::EventBridge(format!(
                "{}; expected a \"Scheduled Event\" {{\"source\",\"time\",\"resources\"}}",
                safe(&e)
            ))
        })?;
    if event.source != "aws.scheduler" && event.source != "aws.events" {
        return Err(DecodeError::EventBridge(
            "a Scheduled Event must have source \"aws.scheduler\" or \"aws.events\"".into(),
        ));
    }
    Ok(Decoded {
        trigger: Trigger::Schedule,
        signals: vec![Signal::Tick(TickSignal {
            source: event.source,
            time: event.time.map(format_utc),
            schedule: event.resources.and_then(|r| r.into_iter().next()),
        })],
    })
}

fn decode_manual(map: Map<String, Value>) -> Result<Decoded, DecodeError> {
    let request: ManualRequest =
        serde_json::from_value(Value::Object(map)).map_err(|e| DecodeError::Manual(safe(&e)))?;
    match &request {
        ManualRequest::Classify { lines } if lines.is_empty() => {
            return Err(DecodeError::Manual(
                "classify needs at least one line in \"lines\"".into(),
            ))
        }
        ManualRequest::Classify { lines } if lines.len() > MAX_MANUAL_LINES => {
            return Err(DecodeError::Manual(format!(
                "classify takes at most {MAX_MANUAL_LINES} lines, got {}",
                lines.len()
            )))
        }
        ManualRequest::Diagnose {
            minutes: Some(minutes),
        }
        | ManualRequest::Plan {
            minutes: Some(minutes),
        } if !(1..=ManualRequest::MAX_DIAGNOSE_MINUTES).contains(minutes) => {
            return Err(DecodeError::Manual(format!(
                "diagnose minutes must be between 1 and {}, got {minutes}",
                ManualRequest::MAX_DIAGNOSE_MINUTES
            )))
        }
        _ => {}
    }
    check_manual_fields(&request)?;
    Ok(Decoded {
        trigger: Trigger::Manual,
        signals: vec![Signal::Manual(request)],
    })
}

/// Incident ids, names and notes end up in pages and reports: keep them short and printable.
fn check_manual_fields(request: &ManualRequest) -> Result<(), DecodeError> {
    let (incident, by, note, token) = match request {
        ManualRequest::Ack { incident, by } | ManualRequest::RevertFallback { incident, by } => {
            (Some(incident), Some(by), None, None)
        }
        ManualRequest::Resolve { incident, by, note } => {
            (Some(incident), Some(by), note.as_ref(), None)
        }
        ManualRequest::ApproveFallback {
            incident,
            token,
            by,
        } => (Some(incident), Some(by), None, Some(token)),
        ManualRequest::Report { incident } => (Some(incident), None, None, None),
        ManualRequest::Status { incident } => (incident.as_ref(), None, None, None),
        _ => (None, None, None, None),
    };
    let field = |name: &str, value: &str, max: usize, allowed: fn(char) -> bool| {
        if value.trim().is_empty() {
            return Err(DecodeError::Manual(format!("\"{name}\" is empty")));
        }
        if value.chars().count() > max {
            return Err(DecodeError::Manual(format!(
                "\"{name}\" is longer than {max} characters"
            )));
        }
        if !value.chars().all(allowed) {
            return Err(DecodeError::Manual(format!(
                "\"{name}\" has characters that are not allowed"
            )));
        }
        Ok(())
    };
    if let Some(incident) = incident {
        field("incident", incident, 64, |c| {
            c.is_ascii_alphanumeric() || c == '-'
        })?;
    }
    if let Some(by) = by {
        field("by", by, 64, |c| !c.is_control())?;
    }
    if let Some(note) = note {
        field("note", note, 500, |c| !c.is_control() || c == '\n')?;
    }
    if let Some(token) = token {
        field("token", token, 128, |c| c.is_ascii_alphanumeric())?;
    }
    Ok(())
}

fn alarm_state(value: &CloudWatchAlarmStateValue) -> Result<AlarmState, DecodeError> {
    match value {
        CloudWatchAlarmStateValue::Ok => Ok(AlarmState::Ok),
        CloudWatchAlarmStateValue::Alarm => Ok(AlarmState::Alarm),
        CloudWatchAlarmStateValue::InsufficientData => Ok(AlarmState::InsufficientData),
        _ => Err(DecodeError::Alarm(
            "state value is not OK, ALARM or INSUFFICIENT_DATA".into(),
        )),
    }
}

/// The metric of a single-metric alarm configuration (`metrics[0].metricStat.metric`).
fn single_metric(configuration: &Value) -> Option<MetricRef> {
    let metrics = configuration.get("metrics")?.as_array()?;
    let [only] = metrics.as_slice() else {
        return None;
    };
    let metric = only.get("metricStat")?.get("metric")?;
    Some(MetricRef {
        namespace: metric
            .get("namespace")
            .and_then(Value::as_str)
            .map(str::to_owned),
        name: metric.get("name")?.as_str()?.to_owned(),
    })
}

/// CloudWatch writes `2026-12-04T03:12:00.123+0000` in some deliveries and RFC 3339 in others;
/// one spelling keeps the same transition's idempotency key the same whichever way it arrives.
pub fn normalise_timestamp(raw: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(raw)
        .or_else(|_| chrono::DateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .map(|t| format_utc(t.with_timezone(&chrono::Utc)))
        .map_err(|_| "is not a timestamp like 2026-12-04T03:12:00.123+0000".to_owned())
}

pub fn format_utc(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Milliseconds since the epoch as RFC 3339, for log event timestamps.
pub fn format_epoch_ms(ms: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_millis(ms).map(format_utc)
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value for an error message: its JSON type for compound values, short and redacted otherwise.
fn short(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{:?}", crate::redact::truncate(s, 60)),
        Value::Array(_) | Value::Object(_) => format!("(a JSON {})", json_type(v)),
        other => other.to_string(),
    }
}

/// A parser's message quotes the offending value (`invalid type: string "…", expected u32`), which
/// may be a secret pasted into the wrong field: drop quoted string values, redact the rest.
fn safe(e: &impl std::fmt::Display) -> String {
    static QUOTED_VALUE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"string "(?:[^"\\]|\\.)*""#).expect("quoted value pattern"));
    let message = e.to_string();
    let message = QUOTED_VALUE.replace_all(&message, "a string");
    crate::redact::redact(&crate::redact::truncate(&message, 300)).into_owned()
}

/// Builds `{"awslogs":{"data":…}}` from a CloudWatch Logs payload, as CloudWatch would deliver it.
/// Used to produce fixtures and benchmark inputs from readable sources.
pub fn encode_logs_event(payload_json: &[u8]) -> Result<Value, DecodeError> {
    let data: LogData = serde_json::from_slice(payload_json).map_err(|e| {
        DecodeError::Logs(format!(
            "source is not a CloudWatch Logs payload ({})",
            safe(&e)
        ))
    })?;
    let json = serde_json::to_vec(&data).map_err(|e| DecodeError::Logs(e.to_string()))?;
    Ok(serde_json::json!({ "awslogs": { "data": gzip_base64(&json) } }))
}

/// gzip then base64, the `awslogs.data` encoding.
pub fn gzip_base64(bytes: &[u8]) -> String {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    gz.write_all(bytes).expect("gzip into memory");
    let compressed = gz.finish().expect("gzip into memory");
    base64::engine::general_purpose::STANDARD.encode(compressed)
}
