//! Faults on the local stack: dependencies down, hung or failing in the middle of the work, and
//! many deliveries at once. Each proves nothing is lost, done twice or left half-done.

use escalate::Escalate;
use local_stack::stack::RIGHT_SECRET;
use remediator_adapters::engine::Outcome;
use remediator_core::settings::{Mode, SessionStoreUrl};
use remediator_tests::scenario::{
    self, deliver_concurrently, event, manual, open, stack, tick, DOWN, MIN, OPERATION, T0,
    WRONG_SECRET,
};
use remediator_tests::{desk_from, desk_with, lambdas};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use triage::Triage;

#[tokio::test]
async fn a_page_sns_refused_is_owed_and_sent_once_on_the_next_tick() {
    let stack = stack(RIGHT_SECRET).await;
    stack.bankid.as_ref().unwrap().set_up(false);
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    open(&triage, "logs-bankid-outage.json").await;
    stack.pages().await.unwrap();
    let sns_down = Escalate::new(desk_with(&stack, Mode::Live, DOWN, &stack.moto.endpoint));
    let failed = tick(&sns_down, 5).await;
    let view = failed.incident.unwrap();
    assert_eq!(view.pages_owed, 1, "{:?}", view.timeline);
    assert!(
        view.timeline
            .iter()
            .any(|t| t.contains("page owed, retried next tick")),
        "{:?}",
        view.timeline
    );
    assert!(stack.pages().await.unwrap().is_empty());
    // SNS is back: the owed page goes out once, and no second one is made for the same rung.
    let sent = tick(&escalate, 6).await;
    assert_eq!(sent.incident.unwrap().pages_owed, 0);
    tick(&escalate, 7).await;
    let pages = stack.pages().await.unwrap();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(pages[0].subject.ends_with("not resolved"));
}

#[tokio::test]
async fn with_the_state_table_unreachable_nothing_changes_and_the_error_is_retryable() {
    let stack = stack("old-secret-4b1d").await;
    let triage =
        Triage::new("triage").with_desk(desk_with(&stack, Mode::Live, &stack.moto.endpoint, DOWN));
    let e = triage
        .triage(event("logs-invalid-credentials.json"), "req-down", T0)
        .await
        .err()
        .expect("refused while the table is unreachable");
    assert!(e.retryable(), "{e}");
    assert!(
        stack.emulator.updates().is_empty(),
        "fail closed: no App Runner change without the lock and the idempotency record"
    );
    // The redelivery, once DynamoDB answers, does the work exactly once.
    let (triage, _) = lambdas(&stack, Mode::Live);
    for attempt in ["req-down", "req-down-retry"] {
        triage
            .triage(event("logs-invalid-credentials.json"), attempt, T0 + 1_000)
            .await
            .unwrap();
    }
    assert_eq!(stack.emulator.updates().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_deliveries_make_exactly_one_update() {
    let stack = stack(WRONG_SECRET).await;
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let triage = Arc::new(triage);

    // The same subscription batch fifty times (one idempotency key): one update.
    let same = event("logs-invalid-credentials.json");
    deliver_concurrently(triage.clone(), vec![same; 50]).await;
    assert_eq!(stack.emulator.updates().len(), 1);

    // Fifty different alarm state changes (fifty keys) while the failure goes on: the first
    // already fixed it; the cooldown and the no-repeat rule refuse every further change.
    stack
        .write_app_logs(&["BankID OAuth error: invalid_client"; 3], T0, 30_000)
        .await
        .unwrap();
    let alarms: Vec<Value> = (0..50)
        .map(|n| {
            let mut alarm = event("alarm-action.json");
            alarm["alarmData"]["state"]["timestamp"] =
                json!(format!("2026-12-04T03:14:{:02}.{n:03}+0000", n % 60));
            alarm
        })
        .collect();
    deliver_concurrently(triage.clone(), alarms).await;
    assert_eq!(stack.emulator.updates().len(), 1, "one change in all");

    // One incident holds every signal.
    let status = manual(&escalate, json!({"action": "status"}), 1)
        .await
        .unwrap();
    let incident = status.incident.expect("an open incident");
    assert!(
        incident.signals >= 51,
        "{} signals folded in",
        incident.signals
    );
}

#[tokio::test]
async fn a_fix_whose_operation_fails_is_paged_at_once_and_never_repeated() {
    for outcome in ["ROLLBACK_SUCCEEDED", "FAILED"] {
        a_fix_that_ends(outcome).await;
    }
}

async fn a_fix_that_ends(outcome: &str) {
    let stack = stack(WRONG_SECRET).await;
    stack
        .emulator
        .plan(json!({"ServiceArn": stack.service_arn, "Outcome": outcome}))
        .unwrap();
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    open(&triage, "logs-invalid-credentials.json").await;
    assert_eq!(stack.emulator.updates().len(), 1);
    // Users keep failing while the change rolls back.
    stack
        .write_app_logs(&["BankID OAuth error: invalid_client"; 3], T0 + MIN, 10_000)
        .await
        .unwrap();
    tokio::time::sleep(OPERATION * 3).await;
    let after = tick(&escalate, 1).await;
    assert!(
        after
            .did
            .iter()
            .any(|d| d.ends_with(&format!("finished: {outcome}"))),
        "{:?}",
        after.did
    );
    assert_eq!(after.incident.unwrap().status.id(), "open");
    let pages = stack.pages().await.unwrap();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(pages[0].subject, "drop-production: the fix failed");

    // The failure goes on (an alarm, a new key): the same fix is refused and a person paged.
    stack
        .write_app_logs(
            &["BankID OAuth error: invalid_client"; 3],
            T0 + 2 * MIN,
            30_000,
        )
        .await
        .unwrap();
    let out = triage
        .triage(event("alarm-action.json"), "req-alarm", T0 + 2 * MIN)
        .await
        .unwrap();
    let response = serde_json::to_value(&out.response).unwrap();
    assert_eq!(response["actions"][0]["decision"], "refuse", "{response}");
    assert_eq!(
        response["actions"][1]["about"], "recurred_after_fix",
        "{response}"
    );
    assert_eq!(stack.emulator.updates().len(), 1, "not repeated");
    let pages = stack.pages().await.unwrap();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(
        pages[0].subject.ends_with("recurred after fix"),
        "{pages:?}"
    );
}

/// Short SDK timeouts, so a hung dependency fails these tests in milliseconds, not seconds.
fn impatient(client: aws_sdk_dynamodb::Client) -> aws_sdk_dynamodb::Client {
    let timeouts = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_millis(200))
        .operation_attempt_timeout(Duration::from_millis(300))
        .operation_timeout(Duration::from_secs(1))
        .build();
    aws_sdk_dynamodb::Client::from_conf(
        client
            .config()
            .to_builder()
            .timeout_config(timeouts)
            .build(),
    )
}

/// The state record `pk`, as stored.
async fn record(stack: &local_stack::stack::Stack, pk: String) -> Option<Value> {
    let item = stack
        .dynamodb_client()
        .get_item()
        .table_name(local_stack::stack::TABLE)
        .key("pk", aws_sdk_dynamodb::types::AttributeValue::S(pk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    Some(json!(item
        .iter()
        .map(|(k, v)| (k.clone(), format!("{v:?}")))
        .collect::<std::collections::BTreeMap<_, _>>()))
}

/// Delivers the wrong-credentials batch and freezes moto while App Runner answers the change:
/// the invocation dies Retryable after the change was sent and before anything recorded it.
async fn change_then_freeze_state_storage(stack: &local_stack::stack::Stack) {
    // App Runner takes the change and answers slowly: the window in which state storage dies.
    stack
        .emulator
        .fault(json!({"Target": "UpdateService", "DelayMs": 500, "Count": 1}))
        .unwrap();
    let desk = desk_from(
        stack,
        stack.settings(Mode::Live),
        &stack.moto.endpoint,
        impatient(stack.dynamodb_client()),
    );
    let triage = Arc::new(Triage::new("triage").with_desk(desk));
    let first = tokio::spawn({
        let triage = triage.clone();
        async move {
            triage
                .triage(event("logs-invalid-credentials.json"), "req-1", T0)
                .await
        }
    });
    for _ in 0..500 {
        if !stack.emulator.updates().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(stack.emulator.updates().len(), 1, "the change was sent");
    stack.moto.pause().unwrap();
    let e = first
        .await
        .unwrap()
        .err()
        .expect("refused while moto is stopped");
    assert!(e.retryable(), "{e}");
    stack.moto.resume().unwrap();
}

/// The operation `response` adopted: its answer carries it as started, the incident records it,
/// and no intent is left behind.
async fn assert_adopted(
    stack: &local_stack::stack::Stack,
    response: &triage::TriageResponse,
) -> remediator_adapters::followup::IncidentView {
    let operation = response
        .report
        .actions
        .iter()
        .find_map(|a| match &a.outcome {
            Outcome::Started { operation_id } => Some(operation_id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no change adopted: {:?}", response.report.actions));
    let incident = response.incident.clone().expect("an incident");
    assert!(
        incident
            .timeline
            .iter()
            .any(|t| t.contains(&format!("started operation {operation}"))),
        "{:?}",
        incident.timeline
    );
    assert!(record(stack, format!("intent#{}", stack.service_arn))
        .await
        .is_none());
    incident
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_stopped_mid_remediation_leaves_nothing_half_done_and_the_redelivery_finishes_it() {
    let stack = stack(WRONG_SECRET).await;
    change_then_freeze_state_storage(&stack).await;

    // What the dead invocation left: the intent naming the change, no result for the signal.
    let intent = record(&stack, format!("intent#{}", stack.service_arn))
        .await
        .expect("the intent outlives the invocation");
    assert!(
        intent
            .to_string()
            .contains("update_environment:BANKID_CLIENT_SECRET"),
        "{intent}"
    );

    // Lambda delivers again once the lease has expired: the operation already started is
    // adopted, not sent again, and the incident learns of it.
    let (triage, escalate) = lambdas(&stack, Mode::Live);
    let again = triage
        .triage(
            event("logs-invalid-credentials.json"),
            "req-2",
            T0 + MIN + 1_000,
        )
        .await
        .unwrap();
    assert_eq!(stack.emulator.updates().len(), 1, "not sent twice");
    let incident = assert_adopted(&stack, &again.response).await;
    assert_eq!(
        again.response.report.actions.len(),
        1,
        "only the adopted change"
    );
    assert_eq!(
        incident.status.id(),
        "mitigating",
        "{:?}",
        incident.timeline
    );

    // A third delivery is a duplicate; the operation is followed to the end.
    let third = triage
        .triage(
            event("logs-invalid-credentials.json"),
            "req-3",
            T0 + 2 * MIN,
        )
        .await
        .unwrap();
    assert!(third.response.report.duplicate_of.is_some());
    tokio::time::sleep(OPERATION * 3).await;
    let followed = tick(&escalate, 3).await;
    assert!(
        followed
            .did
            .iter()
            .any(|d| d.contains("finished: SUCCEEDED")),
        "{:?}",
        followed.did
    );
    assert_eq!(stack.emulator.updates().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_signal_after_the_crash_adopts_the_change_and_settles_the_first() {
    let stack = stack(WRONG_SECRET).await;
    change_then_freeze_state_storage(&stack).await;
    stack
        .write_app_logs(&["BankID OAuth error: invalid_client"; 3], T0, 30_000)
        .await
        .unwrap();

    // An alarm (another key) arrives before the batch is redelivered: it adopts the change.
    let (triage, _) = lambdas(&stack, Mode::Live);
    let alarm = triage
        .triage(event("alarm-action.json"), "req-alarm", T0 + MIN + 1_000)
        .await
        .unwrap();
    assert_eq!(stack.emulator.updates().len(), 1, "not sent twice");
    assert_adopted(&stack, &alarm.response).await;

    // The batch that sent the change is settled: its redelivery is a duplicate.
    let again = triage
        .triage(
            event("logs-invalid-credentials.json"),
            "req-2",
            T0 + 2 * MIN,
        )
        .await
        .unwrap();
    assert!(again.response.report.duplicate_of.is_some());
    assert_eq!(stack.emulator.updates().len(), 1);
}

#[tokio::test]
async fn app_runner_throttling_is_retried_by_the_sdk_and_5xx_deferred_to_the_redelivery() {
    // Throttled twice: the SDK's own retries get the change through in one delivery.
    let stack = stack(WRONG_SECRET).await;
    stack
        .emulator
        .fault(json!({"Target": "UpdateService", "Status": 400, "Type": "ThrottlingException", "Count": 2}))
        .unwrap();
    let (triage, _) = lambdas(&stack, Mode::Live);
    let out = triage
        .triage(event("logs-invalid-credentials.json"), "req-1", T0)
        .await
        .unwrap();
    assert!(matches!(
        out.response.report.actions[0].outcome,
        Outcome::Started { .. }
    ));
    assert_eq!(
        stack.emulator.updates().len(),
        3,
        "two throttled, one accepted"
    );
    assert_eq!(out.response.incident.unwrap().status.id(), "mitigating");

    // 5xx on every attempt: retryable, nothing changed, nothing recorded as done, lock free.
    let stack = scenario::stack(WRONG_SECRET).await;
    stack
        .emulator
        .fault(json!({"Target": "UpdateService", "Status": 503, "Type": "ServiceUnavailableException", "Count": 3}))
        .unwrap();
    let (triage, _) = lambdas(&stack, Mode::Live);
    let e = triage
        .triage(event("logs-invalid-credentials.json"), "req-1", T0)
        .await
        .err()
        .expect("App Runner failing");
    assert!(e.retryable(), "{e}");
    assert!(e.to_string().contains("UpdateService"), "{e}");
    assert!(record(&stack, format!("lock#{}", stack.service_arn))
        .await
        .is_none());
    // The redelivery finds no operation the change started, so it sends the change, once.
    let out = triage
        .triage(event("logs-invalid-credentials.json"), "req-1", T0 + 1_000)
        .await
        .unwrap();
    assert!(matches!(
        out.response.report.actions[0].outcome,
        Outcome::Started { .. }
    ));
    let incident = out.response.incident.unwrap();
    assert_eq!(
        incident
            .timeline
            .iter()
            .filter(|t| t.contains("started operation"))
            .count(),
        1,
        "{:?}",
        incident.timeline
    );
    triage
        .triage(event("logs-invalid-credentials.json"), "req-2", T0 + 2_000)
        .await
        .unwrap();
    let sent: Vec<Value> = stack.emulator.updates();
    assert_eq!(
        sent.len(),
        4,
        "three failed attempts and one accepted change"
    );
}

#[tokio::test]
async fn a_session_store_down_is_reported_and_blocks_nothing_else() {
    let stack = stack(RIGHT_SECRET).await;
    let mut settings = stack.settings(Mode::Live);
    settings.sessions.url = SessionStoreUrl::Redis("redis://127.0.0.1:9/0".into());
    let desk = desk_from(
        &stack,
        settings,
        &stack.moto.endpoint,
        stack.dynamodb_client(),
    );
    let triage = Triage::new("triage").with_desk(desk.clone());
    let escalate = Escalate::new(desk);
    let out = triage
        .triage(event("logs-invalid-state.json"), "req-1", T0)
        .await
        .expect("a session store that is down does not fail the delivery");
    let purge = &out.response.report.actions[0];
    match &purge.outcome {
        Outcome::Failed { error } => assert!(
            error.contains("127.0.0.1:9") || error.to_lowercase().contains("redis"),
            "{error}"
        ),
        other => panic!("expected the purge to fail: {other:?}"),
    }
    let incident = out.response.incident.expect("the incident is open");
    assert!(
        incident
            .timeline
            .iter()
            .any(|t| t.contains("purge_stale_sessions")),
        "{:?}",
        incident.timeline
    );
    // The ladder goes on: the pager hears at 5 minutes.
    tick(&escalate, 5).await;
    let pages = stack.pages().await.unwrap();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert!(stack.emulator.updates().is_empty());
}

#[tokio::test]
async fn failures_logged_while_the_fix_rolls_out_are_not_a_recurrence() {
    let stack = stack(WRONG_SECRET).await;
    stack
        .emulator
        .plan(json!({"ServiceArn": stack.service_arn, "Outcome": "SUCCEEDED", "DelayMs": 60_000}))
        .unwrap();
    let (triage, _) = lambdas(&stack, Mode::Live);
    open(&triage, "logs-invalid-credentials.json").await;
    // Users keep failing until the operation ends; an alarm (a new signal) says so.
    stack
        .write_app_logs(&["BankID OAuth error: invalid_client"; 3], T0, 30_000)
        .await
        .unwrap();
    let out = triage
        .triage(event("alarm-action.json"), "req-alarm", T0 + MIN)
        .await
        .unwrap();
    let response = serde_json::to_value(&out.response).unwrap();
    assert_eq!(
        response["check"]["operation_in_progress"], true,
        "{response}"
    );
    assert_eq!(response["plan"].as_array().unwrap().len(), 1, "{response}");
    assert_eq!(response["plan"][0]["kind"], "await_operation", "{response}");
    assert_eq!(stack.emulator.updates().len(), 1);
    assert!(stack.pages().await.unwrap().is_empty(), "nobody is paged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_events_a_second_make_one_incident_and_one_update() {
    let stack = stack(WRONG_SECRET).await;
    let (triage, _) = lambdas(&stack, Mode::Live);
    let plan = remediator_tests::load::LoadPlan {
        seconds: 3,
        ..Default::default()
    };
    let result = remediator_tests::load::run(&stack, Arc::new(triage), plan).await;
    assert_eq!(result.deliveries, 30, "{result}");
    assert_eq!(result.lost, 0, "{result}");
    assert_eq!(result.incidents, 1, "{result}");
    assert_eq!(result.app_runner_updates, 1, "{result}");
    assert!(
        result.incident_record_bytes < 100_000,
        "the incident record grows with the load: {result}"
    );
}
