//! Every fixture event through the triage handler, and one test per class of malformed event.

use lambda_runtime::{Context, Diagnostic, LambdaEvent};
use remediator_core::decode::{
    self, gzip_base64, MAX_INFLATED_BYTES, MAX_LINE_BYTES, MAX_MANUAL_LINES,
};
use remediator_core::Signal;
use remediator_tests::{event_fixtures, fixtures_dir};
use serde_json::{json, Value};
use std::path::Path;
use triage::{Triage, TriageError};

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn triage(event: Value) -> Result<Value, TriageError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime
        .block_on(Triage::new("triage").triage(event, "req-1", 1_796_358_800_000))
        .map(|o| serde_json::to_value(o.response).expect("response serialises"))
}

fn refused(event: Value) -> String {
    let e = triage(event).expect_err("the event must be refused");
    let d = Diagnostic::from(e);
    assert_eq!(d.error_type, "NonRetryable");
    d.error_message
}

/// (fixture, trigger, diagnosed cause, lines examined)
const EXPECTED: &[(&str, &str, Option<&str>, usize)] = &[
    ("alarm-action.json", "alarm_action", None, 0),
    ("alarm-eventbridge-ok.json", "alarm_event_bridge", None, 0),
    ("alarm-eventbridge.json", "alarm_event_bridge", None, 0),
    ("alarm-sns.json", "alarm_sns", None, 0),
    (
        "logs-bankid-outage.json",
        "logs_subscription",
        Some("bankid_outage"),
        5,
    ),
    (
        "logs-callback-mismatch.json",
        "logs_subscription",
        Some("callback_mismatch"),
        5,
    ),
    ("logs-control-message.json", "logs_control", None, 0),
    (
        "logs-credentials-amid-network-noise.json",
        "logs_subscription",
        Some("invalid_credentials"),
        10,
    ),
    ("logs-healthy.json", "logs_subscription", None, 6),
    (
        "logs-invalid-credentials.json",
        "logs_subscription",
        Some("invalid_credentials"),
        10,
    ),
    (
        "logs-invalid-state.json",
        "logs_subscription",
        Some("invalid_state"),
        6,
    ),
    ("logs-network.json", "logs_subscription", Some("network"), 6),
    ("logs-one-stray-503.json", "logs_subscription", None, 3),
    (
        "logs-rate-limited.json",
        "logs_subscription",
        Some("rate_limited"),
        5,
    ),
    ("logs-unknown.json", "logs_subscription", Some("unknown"), 3),
    (
        "manual-classify.json",
        "manual",
        Some("invalid_credentials"),
        3,
    ),
    ("manual-diagnose.json", "manual", None, 0),
    ("manual-status.json", "manual", None, 0),
    ("schedule-rule.json", "schedule", None, 0),
    ("schedule-scheduler.json", "schedule", None, 0),
];

#[test]
fn every_fixture_event_is_accepted_with_the_expected_diagnosis() {
    let files = event_fixtures();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let expected: Vec<&str> = EXPECTED.iter().map(|e| e.0).collect();
    assert_eq!(names, expected, "every fixture needs a row in EXPECTED");
    for (path, (name, trigger, cause, lines)) in files.iter().zip(EXPECTED) {
        let response = triage(load(path)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(response["trigger"], *trigger, "{name}");
        assert_eq!(response["diagnosis"]["cause"].as_str(), *cause, "{name}");
        assert_eq!(response["diagnosis"]["lines_examined"], *lines, "{name}");
        assert_eq!(
            response["plan"],
            json!([]),
            "{name}: diagnosis only, nothing planned"
        );
        assert_eq!(response["remediation"], "disabled", "{name}");
        assert_eq!(response["incident"], Value::Null, "{name}");
    }
}

#[test]
fn the_three_deliveries_of_one_alarm_transition_share_an_idempotency_key() {
    let mut keys = Vec::new();
    for name in [
        "alarm-action.json",
        "alarm-sns.json",
        "alarm-eventbridge.json",
    ] {
        let decoded =
            decode::decode_value(load(&fixtures_dir().join("events").join(name))).unwrap();
        let [remediator_core::Signal::Alarm(alarm)] = decoded.signals.as_slice() else {
            panic!(
                "{name}: expected one alarm signal, got {:?}",
                decoded.signals
            );
        };
        assert_eq!(alarm.alarm_name, "drop-production-bankid-callback-failures");
        keys.push(alarm.idempotency_key());
    }
    assert_eq!(
        keys,
        vec!["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:drop-production-bankid-callback-failures@2026-12-04T03:13:00.512Z"; 3]
    );
}

#[test]
fn secrets_in_fixture_lines_never_reach_the_response() {
    let response = triage(load(
        &fixtures_dir().join("events/logs-invalid-credentials.json"),
    ))
    .unwrap();
    let text = response.to_string();
    for secret in ["9c1f2e3d-4b5a-6978", "RkFLRS1zdGF0ZS12YWx1ZQ"] {
        assert!(!text.contains(secret), "{secret} leaked: {text}");
    }
}

/// The encoded subscription events are produced from the readable sources (`make fixtures`):
/// each must decode to exactly its source, so neither can drift.
#[test]
fn encoded_log_fixtures_match_their_readable_sources() {
    let sources = std::fs::read_dir(fixtures_dir().join("sources")).unwrap();
    let mut checked = 0;
    for source in sources {
        let source = source.unwrap().path();
        let name = source.file_name().unwrap().to_string_lossy().into_owned();
        let event = load(&fixtures_dir().join("events").join(&name));
        let data = event["awslogs"]["data"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no awslogs.data"));
        let inflated: Value =
            serde_json::from_slice(&decode::inflate_logs_data(data).unwrap()).unwrap();
        assert_eq!(
            inflated,
            load(&source),
            "events/{name} is stale: run `make fixtures`"
        );
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} sources");
}

#[tokio::test]
async fn the_lambda_entry_point_answers_a_fixture_and_refuses_garbage() {
    let triage = Triage::new("triage");
    let event = LambdaEvent::new(
        load(&fixtures_dir().join("events/logs-network.json")),
        Context::default(),
    );
    let response = triage.handle(event).await.unwrap();
    assert_eq!(response.diagnosis.cause.map(|c| c.id()), Some("network"));
    let garbage = LambdaEvent::new(json!("just a string"), Context::default());
    assert!(triage.handle(garbage).await.is_err());
}

fn logs_event(payload: &[u8]) -> Value {
    json!({"awslogs": {"data": gzip_base64(payload)}})
}

fn logs_payload(messages: &[&str]) -> Vec<u8> {
    let events: Vec<Value> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| json!({"id": format!("{i:056}"), "timestamp": 1_796_358_720_000_i64 + i as i64, "message": m}))
        .collect();
    serde_json::to_vec(&json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012",
        "logGroup": "/aws/apprunner/drop-production/x/application", "logStream": "instance/y",
        "subscriptionFilters": ["bankid-triage"], "logEvents": events
    }))
    .unwrap()
}

#[test]
fn malformed_unknown_shape_names_what_was_expected() {
    let m = refused(json!({"hello": "world", "detail": {}}));
    assert!(
        m.contains("unrecognised event with top-level keys [detail, hello]"),
        "{m}"
    );
    assert!(
        m.contains("CloudWatch Logs subscription") && m.contains("manual action"),
        "{m}"
    );
    let m = refused(json!([1, 2, 3]));
    assert!(
        m.contains("event is a JSON array; expected an object"),
        "{m}"
    );
}

#[test]
fn malformed_bad_base64() {
    let m = refused(json!({"awslogs": {"data": "%%% not base64 %%%"}}));
    assert!(m.contains("awslogs.data is not valid base64"), "{m}");
}

#[test]
fn malformed_bad_gzip() {
    use base64::Engine;
    let not_gzip =
        base64::engine::general_purpose::STANDARD.encode(b"plain text, never compressed");
    let m = refused(json!({"awslogs": {"data": not_gzip}}));
    assert!(m.contains("awslogs.data is not valid gzip"), "{m}");
    // A truncated stream is as bad as no gzip at all.
    let full = gzip_base64(&logs_payload(&["BankID OAuth error: invalid_client"]));
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(full)
        .unwrap();
    let cut = base64::engine::general_purpose::STANDARD.encode(&bytes[..bytes.len() / 2]);
    let m = refused(json!({"awslogs": {"data": cut}}));
    assert!(m.contains("not valid gzip"), "{m}");
}

#[test]
fn malformed_bad_json_inside_the_gzip() {
    let m = refused(logs_event(
        b"{\"messageType\": \"DATA_MESSAGE\", \"logEvents\": [oops",
    ));
    assert!(m.contains("not the CloudWatch Logs JSON"), "{m}");
    assert!(m.contains("expected {\"messageType\""), "{m}");
    let m = refused(logs_event(br#"{"messageType":"DATA_MESSAGE"}"#));
    assert!(m.contains("missing field"), "{m}");
}

#[test]
fn malformed_non_utf8_inside_the_gzip() {
    let mut payload = logs_payload(&["BankID OAuth error: invalid_client"]);
    let at = payload.windows(6).position(|w| w == b"BankID").unwrap();
    payload[at] = 0xff;
    let m = refused(logs_event(&payload));
    assert!(
        m.contains("not valid UTF-8 (first bad byte at offset"),
        "{m}"
    );
}

#[test]
fn malformed_unknown_message_type() {
    let payload = String::from_utf8(logs_payload(&["x"]))
        .unwrap()
        .replace("DATA_MESSAGE", "SURPRISE");
    let m = refused(logs_event(payload.as_bytes()));
    assert!(
        m.contains("expected DATA_MESSAGE or CONTROL_MESSAGE"),
        "{m}"
    );
}

#[test]
fn a_one_megabyte_line_is_refused_by_name_and_the_rest_of_its_batch_kept() {
    let huge = format!(
        "BankID OAuth error: invalid_client {}",
        "x".repeat(1024 * 1024)
    );
    let event = logs_event(&logs_payload(&[
        &huge,
        "BankID OAuth error: invalid_client",
    ]));
    let response = triage(event).unwrap();
    assert_eq!(response["diagnosis"]["lines_rejected"], 1);
    assert_eq!(response["diagnosis"]["lines_examined"], 1);
    assert_eq!(response["diagnosis"]["cause"], "invalid_credentials");
    let rejected = &response["rejected"][0];
    assert_eq!(rejected["id"], format!("{:056}", 0));
    assert_eq!(rejected["bytes"], huge.len());
    assert!(rejected["reason"]
        .as_str()
        .unwrap()
        .contains(&MAX_LINE_BYTES.to_string()));
    assert!(
        !response.to_string().contains("xxxxxxxxxx"),
        "the line itself must not be echoed"
    );
}

#[test]
fn a_gzip_bomb_is_refused() {
    let bomb = vec![b' '; MAX_INFLATED_BYTES + 1];
    let m = refused(logs_event(&bomb));
    assert!(
        m.contains(&format!("inflates to more than {MAX_INFLATED_BYTES} bytes")),
        "{m}"
    );
}

#[test]
fn oversized_manual_payloads_are_refused_by_their_size() {
    let lines = vec!["BankID OAuth error: invalid_client"; MAX_MANUAL_LINES + 1];
    let m = refused(json!({"action": "classify", "lines": lines}));
    assert!(
        m.contains(&format!(
            "classify takes at most {MAX_MANUAL_LINES} lines, got {}",
            MAX_MANUAL_LINES + 1
        )),
        "{m}"
    );
    let m = refused(
        json!({"action": "resolve", "incident": "inc-1", "by": "john", "note": "n".repeat(1 << 20)}),
    );
    assert!(m.contains("\"note\" is longer than"), "{m}");
    assert!(m.len() < 200, "the note is not echoed: {} bytes", m.len());
}

#[test]
fn malformed_manual_actions_name_what_was_expected() {
    let m = refused(json!({"action": "flush_redis"}));
    assert!(
        m.contains(
            "unknown variant `flush_redis`, expected one of `classify`, `status`, `diagnose`, `plan`, `tick`, `ack`"
        ),
        "{m}"
    );
    let m = refused(json!({"action": "status", "force": true}));
    assert!(m.contains("unknown field `force`"), "{m}");
    let m = refused(json!({"action": "classify", "lines": "one string"}));
    assert!(m.contains("invalid type"), "{m}");
    let m = refused(json!({"action": "classify", "lines": []}));
    assert!(m.contains("at least one line"), "{m}");
    let m = refused(json!({"action": "diagnose", "minutes": 0}));
    assert!(m.contains("between 1 and 180"), "{m}");
    let m = refused(json!({"action": 7}));
    assert!(m.starts_with("manual action:"), "{m}");
}

#[test]
fn incident_actions_are_checked_field_by_field() {
    let m = refused(json!({"action": "ack", "incident": "inc-1"}));
    assert!(m.contains("missing field `by`"), "{m}");
    let m = refused(json!({"action": "ack", "incident": "inc-1", "by": "  "}));
    assert!(m.contains("\"by\" is empty"), "{m}");
    let m = refused(json!({"action": "resolve", "incident": "inc 1; rm -rf", "by": "john"}));
    assert!(
        m.contains("\"incident\" has characters that are not allowed"),
        "{m}"
    );
    let m = refused(json!({"action": "ack", "incident": "inc-1", "by": "x".repeat(65)}));
    assert!(m.contains("longer than 64"), "{m}");
    let m = refused(
        json!({"action": "approve_fallback", "incident": "inc-1", "by": "alem", "token": 12345}),
    );
    assert!(m.contains("invalid type"), "{m}");
    let m = refused(
        json!({"action": "approve_fallback", "incident": "inc-1", "by": "alem", "token": "hunter2 hunter2"}),
    );
    assert!(m.contains("\"token\" has characters"), "{m}");
    assert!(!m.contains("hunter2"), "{m}");
    let m = refused(json!({"action": "plan", "minutes": 500}));
    assert!(m.contains("between 1 and 180"), "{m}");
    let m = refused(json!({"action": "tick", "now": 5}));
    assert!(m.contains("unknown field `now`"), "{m}");
}

#[test]
fn every_manual_payload_fixture_is_the_action_its_file_names() {
    let dir = fixtures_dir().join("manual");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .replace('-', "_");
        let decoded = remediator_core::decode_value(load(&path))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Signal::Manual(request) = &decoded.signals[0] else {
            panic!("{}: not a manual action", path.display());
        };
        assert_eq!(request.name(), stem);
        seen += 1;
    }
    assert_eq!(seen, 8);
}

#[test]
fn an_approval_token_is_never_echoed() {
    let decoded = remediator_core::decode_value(json!({"action": "approve_fallback", "incident": "inc-1", "by": "alem", "token": "0123456789abcdef"})).unwrap();
    let Signal::Manual(request) = &decoded.signals[0] else {
        panic!("not a manual request");
    };
    let echoed = serde_json::to_string(request).unwrap();
    assert!(!echoed.contains("0123456789abcdef"), "{echoed}");
    assert!(echoed.contains("approve_fallback"), "{echoed}");
}

#[test]
fn wrong_values_are_not_echoed_in_errors() {
    for value in [
        "client_secret=hunter2hunter2",
        "hunter2hunter2",
        "with \\\" an escaped quote hunter2",
    ] {
        let m = refused(json!({"action": "diagnose", "minutes": value}));
        assert!(!m.contains("hunter2"), "{m}");
        assert!(m.contains("invalid type: a string, expected u32"), "{m}");
    }
}

#[test]
fn malformed_sns_and_eventbridge_events() {
    let mut sns = load(&fixtures_dir().join("events/alarm-sns.json"));
    sns["Records"][0]["Sns"]["Message"] = json!("Hello from a topic that is not an alarm");
    let m = refused(sns.clone());
    assert!(
        m.contains("record 0: the message is not a CloudWatch alarm notification"),
        "{m}"
    );
    sns["Records"] = json!([]);
    assert!(refused(sns).contains("Records is empty"));

    let mut eb = load(&fixtures_dir().join("events/alarm-eventbridge.json"));
    eb["detail-type"] = json!("EC2 Instance State-change Notification");
    let m = refused(eb.clone());
    assert!(
        m.contains(
            "is not handled; expected \"CloudWatch Alarm State Change\" or \"Scheduled Event\""
        ),
        "{m}"
    );
    eb["detail-type"] = json!("CloudWatch Alarm State Change");
    eb["detail"]["state"]["timestamp"] = json!("yesterday");
    assert!(refused(eb).contains("is not a timestamp"));

    let mut action = load(&fixtures_dir().join("events/alarm-action.json"));
    action["alarmData"]["state"]["value"] = json!("ON_FIRE");
    assert!(refused(action).starts_with("CloudWatch alarm event:"));
}

/// Truncated and bit-flipped versions of every fixture: each is accepted or refused with a
/// reason, never a panic. (A deterministic sweep; the long fuzzing run is separate.)
#[test]
fn damaged_fixtures_never_panic() {
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut refused = 0;
    for path in event_fixtures() {
        let bytes = std::fs::read(&path).unwrap();
        for _ in 0..200 {
            let mut damaged = bytes.clone();
            match next() % 3 {
                0 => damaged.truncate((next() as usize) % bytes.len()),
                1 => {
                    let at = (next() as usize) % bytes.len();
                    damaged[at] ^= 1 << (next() % 8);
                }
                _ => {
                    let at = (next() as usize) % bytes.len();
                    damaged.insert(at, (next() % 256) as u8);
                }
            }
            match decode::decode_slice(&damaged) {
                Ok(decoded) => {
                    let mut d =
                        remediator_core::Diagnoser::new(remediator_core::classify::classifier());
                    for signal in &decoded.signals {
                        if let remediator_core::Signal::Logs(batch) = signal {
                            d.add_batch(batch);
                        }
                    }
                    d.finish();
                }
                Err(_) => refused += 1,
            }
        }
    }
    assert!(refused > 0, "some damage must be noticed");
}

#[test]
fn arbitrary_text_never_panics_the_classifier() {
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let alphabet: Vec<char> = "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:/.\"'[]{}=&?-\n\t\\æøåÆØÅ€🙂"
        .chars()
        .collect();
    let mut lines = Vec::new();
    for _ in 0..2_000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 300) as usize;
        let line: String = (0..len)
            .map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7) % alphabet.len()])
            .collect();
        lines.push(line);
    }
    lines.push("bankid 401 invalid_client".repeat(1000));
    let d = remediator_core::diagnosis::diagnose_lines(lines.iter().map(String::as_str));
    assert_eq!(d.lines_examined, lines.len());
}
