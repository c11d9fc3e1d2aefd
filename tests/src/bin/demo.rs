//! `make demo`: the triage Lambda's job, printed for people, in two parts.
//!
//! 1. Every recorded event under `tests/fixtures/events/` (CloudWatch Logs subscriptions, alarms
//!    through each delivery path, schedule ticks, manual actions) diagnosed, then a malformed one
//!    refused.
//! 2. Remediation on the local stack (moto for Secrets Manager and DynamoDB, the App Runner
//!    emulator, a SQLite session store): a service with a wrong client secret fixed by one merged
//!    UpdateService, the redelivery answered without a second one, and stale BankID state purged.
//! 3. Two whole incidents on an accelerated clock ([`remediator_tests::story`]): a wrong secret
//!    fixed, verified, resolved and reported; a BankID outage paged, approved into demo mode by
//!    a manual invoke, reverted when BankID is back, resolved and reported.

use local_stack::stack::{Stack, SECRET_ID, TABLE};
use remediator_adapters::apprunner::AppRunner;
use remediator_adapters::engine::{Outcome, Remediator};
use remediator_adapters::secrets::Secrets;
use remediator_adapters::state::StateStore;
use remediator_core::diagnosis::Diagnosis;
use remediator_core::settings::{Mode, Settings};
use remediator_core::signal::Trigger;
use remediator_core::Cause;
use remediator_tests::event_fixtures;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::time::Duration;
use triage::{now_ms, Triage, TriageResponse};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let diagnosed = diagnose_fixtures().await;
    let remediated = match remediate_on_local_stack().await {
        Ok(()) => true,
        Err(e) => {
            println!("  the local stack failed: {e}");
            false
        }
    };
    let mut stories = true;
    for story in [
        remediator_tests::story::wrong_secret().await,
        remediator_tests::story::outage().await,
    ] {
        if let Err(e) = story {
            println!("  the story failed: {e}");
            stories = false;
        }
    }
    if diagnosed && remediated && stories {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn diagnose_fixtures() -> bool {
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
            "{} events triaged, malformed input refused with a reason.\n",
            files.len()
        );
        true
    } else {
        println!("{failures} fixture events could not be triaged.\n");
        false
    }
}

fn fixture(name: &str) -> Result<Value, String> {
    let path = remediator_tests::fixtures_dir().join("events").join(name);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

async fn remediate_on_local_stack() -> Result<(), String> {
    println!("BankID remediator: remediation on the local stack\n");
    let stack = Stack::start(
        "stale-secret-from-before-rotation",
        Duration::from_millis(1_500),
    )
    .await?;
    println!(
        "  moto (Secrets Manager, DynamoDB) at {}",
        stack.moto.endpoint
    );
    println!("  App Runner emulator at {}", stack.emulator_url);
    println!("  service {}", stack.service_arn);

    let dir = std::env::temp_dir().join(format!("bankid-remediator-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let sessions_db = dir.join("sessions.db");
    let conn = rusqlite::Connection::open(&sessions_db).map_err(|e| e.to_string())?;
    conn.execute_batch(
        "CREATE TABLE sessions (sid TEXT PRIMARY KEY, expires_at TEXT);
         INSERT INTO sessions VALUES ('state-a', datetime('now', '-2 hours')), ('state-b', datetime('now', '-40 minutes')),
           ('state-c', datetime('now', '-12 minutes')), ('user-1', datetime('now', '+20 minutes')),
           ('user-2', datetime('now', '+7 days'));",
    )
    .map_err(|e| e.to_string())?;
    println!("  SQLite session store with 3 stale entries and 2 live sessions\n");

    let mut env = stack.environment(Mode::Live);
    env.retain(|(name, _)| *name != "SESSION_STORE_URL");
    env.push((
        "SESSION_STORE_URL",
        format!("sqlite://{}", sessions_db.display()),
    ));
    let settings =
        Settings::from_lookup(|name| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
            .map_err(|e| e.to_string())?;
    let remediator = Remediator::new(
        settings,
        AppRunner::new(stack.apprunner_client(), &stack.service_arn),
        Secrets::new(stack.secrets_client(), SECRET_ID),
        StateStore::new(stack.dynamodb_client(), TABLE),
    );
    let triage = Triage::new("triage").with_remediator(remediator);

    println!("▶ logs-invalid-credentials.json: BankID rejects the client secret");
    let out = triage
        .triage(
            fixture("logs-invalid-credentials.json")?,
            "demo-1",
            now_ms(),
        )
        .await
        .map_err(|e| e.to_string())?;
    print_remediation(&out.response);
    if let Some(update) = stack.emulator.updates().first() {
        let vars = &update["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"]
            ["RuntimeEnvironmentVariables"];
        let names: Vec<String> = vars
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        println!(
            "  UpdateService sent the whole map back, values not shown: {}",
            names.join(", ")
        );
    }
    let apprunner = AppRunner::new(stack.apprunner_client(), &stack.service_arn);
    if let Some(Outcome::Started { operation_id }) =
        out.response.report.actions.first().map(|a| &a.outcome)
    {
        for _ in 0..100 {
            match apprunner
                .operation(operation_id)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(op) if op.finished() => {
                    println!("  operation {} ({}) ended {}", op.id, op.kind, op.status);
                    break;
                }
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    println!("\n▶ the same subscription batch delivered again (a Lambda retry)");
    let again = triage
        .triage(
            fixture("logs-invalid-credentials.json")?,
            "demo-2",
            now_ms(),
        )
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "  {}; UpdateService calls in all: {}",
        if again.response.report.duplicate_of.is_some() {
            "answered from the earlier record, nothing done twice"
        } else {
            "handled again"
        },
        stack.emulator.updates().len()
    );

    println!("\n▶ logs-invalid-state.json: callbacks fail their state check");
    let out = triage
        .triage(fixture("logs-invalid-state.json")?, "demo-3", now_ms())
        .await
        .map_err(|e| e.to_string())?;
    print_remediation(&out.response);
    let left: i64 = conn
        .query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    println!("  entries left in the session store: {left} (live sessions kept; no flush)");
    std::fs::remove_dir_all(&dir).map_err(|e| e.to_string())?;
    println!();
    Ok(())
}

fn print_remediation(r: &TriageResponse) {
    if let Some(cause) = r.diagnosis.cause {
        println!(
            "  diagnosis   {cause} · confidence {:.2}",
            r.diagnosis.confidence
        );
    }
    if let Some(check) = &r.report.check {
        println!(
            "  check       client_id {:?} · client_secret {:?} · callback_url {:?}",
            check.client_id, check.client_secret, check.callback_url
        );
    }
    for done in &r.report.actions {
        let action = serde_json::to_value(&done.action).unwrap_or_default();
        let decision = serde_json::to_value(&done.decision).unwrap_or_default();
        let outcome = serde_json::to_value(&done.outcome).unwrap_or_default();
        if let Some(planned) = r.report.plan.iter().find(|p| p.action == done.action) {
            println!("  plan        {action}: {}", planned.reason);
        }
        println!("  done        {decision} → {outcome}");
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
