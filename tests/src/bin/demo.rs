//! `make demo`: every fixture event through the triage handler, printed for people.
//!
//! The events are the real wire formats under `tests/fixtures/events/` (CloudWatch Logs
//! subscriptions, alarms through each delivery path, schedule ticks, manual actions), followed by a
//! malformed one to show how refusals read.

use remediator_core::diagnosis::Diagnosis;
use remediator_core::signal::Trigger;
use remediator_core::Cause;
use remediator_tests::event_fixtures;
use serde_json::{json, Value};
use std::process::ExitCode;
use triage::{now_ms, Triage, TriageResponse};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let triage = Triage::new("triage");
    let files = event_fixtures();
    println!(
        "BankID remediator: triage of {} recorded events (tests/fixtures/events)\n",
        files.len()
    );
    let mut failures = 0;
    for path in &files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        println!("▶ {name}");
        let event: Value = match std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(v) => v,
            Err(e) => {
                println!("  unreadable fixture: {e}\n");
                failures += 1;
                continue;
            }
        };
        match triage.triage(event, &name, now_ms()).await {
            Ok(outcome) => print_response(&outcome.response),
            Err(e) => {
                println!("  refused: {e}");
                failures += 1;
            }
        }
        println!();
    }

    println!("▶ a malformed event (awslogs.data that is not base64)");
    match triage
        .triage(json!({"awslogs": {"data": "%%%"}}), "malformed", now_ms())
        .await
    {
        Ok(_) => {
            println!("  accepted, which is wrong");
            failures += 1;
        }
        Err(e) => println!("  refused, not retried: {e}"),
    }
    println!();

    if failures == 0 {
        println!(
            "{} events triaged, malformed input refused with a reason.",
            files.len()
        );
        ExitCode::SUCCESS
    } else {
        println!("{failures} fixture events could not be triaged.");
        ExitCode::FAILURE
    }
}

fn print_response(r: &TriageResponse) {
    println!("  trigger     {}", trigger_name(r.trigger));
    for alarm in &r.alarms {
        let previous = alarm
            .previous_state
            .map(|s| format!("{s:?} → "))
            .unwrap_or_default();
        println!(
            "  alarm       {} {previous}{:?} at {}",
            alarm.alarm_name, alarm.state, alarm.state_timestamp
        );
        println!("  dedup key   {}", alarm.idempotency_key());
    }
    if let Some(tick) = &r.tick {
        println!(
            "  tick        {} at {}",
            tick.schedule.as_deref().unwrap_or(&tick.source),
            tick.time.as_deref().unwrap_or("?")
        );
    }
    if let Some(request) = &r.request {
        let request = serde_json::to_string(request).unwrap_or_default();
        println!("  request     {request}");
    }
    print_diagnosis(&r.diagnosis);
    for rejected in &r.rejected {
        println!(
            "  rejected    line {} ({} bytes): {}",
            rejected.id, rejected.bytes, rejected.reason
        );
    }
}

fn print_diagnosis(d: &Diagnosis) {
    match d.cause {
        Some(cause) => println!(
            "  diagnosis   {cause} · confidence {:.2} · {} lines examined",
            d.confidence, d.lines_examined
        ),
        None => println!(
            "  diagnosis   no cause · {} lines examined",
            d.lines_examined
        ),
    }
    let counts: Vec<String> = Cause::ALL
        .into_iter()
        .filter(|c| d.counts.get(*c) > 0)
        .map(|c| format!("{c} {}", d.counts.get(c)))
        .collect();
    if !counts.is_empty() {
        println!("  counts      {}", counts.join(", "));
    }
    if let (Some(first), Some(last)) = (&d.first_seen, &d.last_seen) {
        println!("  seen        {first} → {last}");
    }
    for (i, e) in d.evidence.iter().enumerate() {
        let label = if i == 0 { "evidence" } else { "" };
        println!("  {label:<11} [{}] {}", e.rule, e.line);
    }
    println!("  summary     {}", d.summary);
}

fn trigger_name(t: Trigger) -> &'static str {
    match t {
        Trigger::LogsSubscription => "CloudWatch Logs subscription",
        Trigger::LogsControl => "CloudWatch Logs control message (ignored)",
        Trigger::AlarmAction => "CloudWatch alarm action",
        Trigger::AlarmSns => "CloudWatch alarm via SNS",
        Trigger::AlarmEventBridge => "EventBridge alarm state change",
        Trigger::Schedule => "schedule tick",
        Trigger::Manual => "manual action",
    }
}
