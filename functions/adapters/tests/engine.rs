//! The engine end to end on the local stack: the App Runner emulator, and moto for Secrets
//! Manager and DynamoDB, all over the real SDKs and HTTP.

use apprunner_emulator::Emulator;
use local_stack::stack::{Stack as LocalStack, CALLBACK, RIGHT_SECRET, SECRET_ID};
use remediator_adapters::apprunner::AppRunner;
use remediator_adapters::engine::{Outcome, Remediator, Report};
use remediator_adapters::secrets::Secrets;
use remediator_adapters::state::StateStore;
use remediator_core::diagnosis::{diagnose_lines, Diagnosis};
use remediator_core::remedy::{Action, Decision, PageAbout, REPEAT_REFUSAL};
use remediator_core::settings::Mode;
use serde_json::json;
use std::time::Duration;

const NOW: i64 = 1_796_353_920_000;

struct Stack {
    local: LocalStack,
    emulator: Emulator,
    remediator: Remediator,
    secrets_client: aws_sdk_secretsmanager::Client,
}

async fn stack(mode: Mode, service_secret: &str, operation_ms: u64) -> Stack {
    stack_with_sessions(mode, service_secret, operation_ms, None).await
}

async fn stack_with_sessions(
    mode: Mode,
    service_secret: &str,
    operation_ms: u64,
    session_store_url: Option<String>,
) -> Stack {
    let local = LocalStack::start(service_secret, Duration::from_millis(operation_ms))
        .await
        .expect("local stack");
    let mut env = local.environment(mode);
    if let Some(url) = session_store_url {
        env.retain(|(name, _)| *name != "SESSION_STORE_URL");
        env.push(("SESSION_STORE_URL", url));
    }
    let settings = remediator_core::settings::Settings::from_lookup(|name| {
        env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone())
    })
    .unwrap();
    let remediator = Remediator::new(
        settings,
        AppRunner::new(local.apprunner_client(), &local.service_arn),
        Secrets::new(local.secrets_client(), SECRET_ID),
        StateStore::new(local.dynamodb_client(), local_stack::stack::TABLE),
    );
    Stack {
        emulator: local.emulator.clone(),
        secrets_client: local.secrets_client(),
        remediator,
        local,
    }
}

fn credentials_failing() -> Diagnosis {
    diagnose_lines(["OPError: invalid_client (Invalid client credentials)"; 3])
}

fn outcomes(report: &Report) -> Vec<&Outcome> {
    report.actions.iter().map(|a| &a.outcome).collect()
}

#[tokio::test]
async fn wrong_credentials_are_fixed_by_one_merged_update_and_a_redelivery_changes_nothing() {
    let s = stack(Mode::Live, "old-secret", 20).await;
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:a:1", "req-1", NOW)
        .await
        .unwrap();
    assert!(
        matches!(outcomes(&report)[..], [Outcome::Started { .. }]),
        "{report:?}"
    );
    let sent = s.emulator.updates();
    assert_eq!(sent.len(), 1);
    let vars = &sent[0]["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"];
    assert_eq!(
        vars["RuntimeEnvironmentVariables"]["BANKID_CLIENT_SECRET"],
        RIGHT_SECRET
    );
    assert_eq!(
        vars["RuntimeEnvironmentVariables"]["DATABASE_URL"],
        "postgres://db.internal:5432/drop"
    );
    assert_eq!(
        vars["RuntimeEnvironmentSecrets"]["STRIPE_KEY"],
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbCdEf"
    );

    let again = s
        .remediator
        .remediate(&credentials_failing(), "logs:a:1", "req-2", NOW + 1000)
        .await
        .unwrap();
    assert!(again.duplicate_of.is_some());
    assert!(again.actions.is_empty());
    assert_eq!(s.emulator.updates().len(), 1);
    let text = serde_json::to_string(&again).unwrap() + &serde_json::to_string(&report).unwrap();
    assert!(
        !text.contains(RIGHT_SECRET) && !text.contains("old-secret"),
        "no secret in reports: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_duplicate_deliveries_make_one_update() {
    let s = stack(Mode::Live, "old-secret", 20).await;
    let diagnosis = credentials_failing();
    let runs = (0..20).map(|i| {
        let remediator = s.remediator.clone();
        let diagnosis = diagnosis.clone();
        tokio::spawn(async move {
            remediator
                .remediate(&diagnosis, "alarm:x@t", &format!("req-{i}"), NOW)
                .await
        })
    });
    let mut started = 0;
    for run in runs {
        let report = run.await.unwrap().expect("every delivery is answered");
        started += report
            .actions
            .iter()
            .filter(|a| matches!(a.outcome, Outcome::Started { .. }))
            .count();
    }
    assert_eq!(started, 1);
    assert_eq!(s.emulator.updates().len(), 1);
}

#[tokio::test]
async fn dry_run_records_and_mutates_nothing() {
    let s = stack(Mode::DryRun, "old-secret", 20).await;
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:b:1", "req-1", NOW)
        .await
        .unwrap();
    assert_eq!(report.actions[0].decision, Decision::RecordOnly);
    assert_eq!(outcomes(&report), vec![&Outcome::DryRun]);
    assert!(s.emulator.updates().is_empty());
}

#[tokio::test]
async fn a_second_incident_inside_the_cooldown_gets_no_update() {
    let s = stack(Mode::Live, "old-secret", 5).await;
    s.remediator
        .remediate(&credentials_failing(), "logs:c:1", "req-1", NOW)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:c:2", "req-2", NOW + 120_000)
        .await
        .unwrap();
    // The first update is live by now, so the check finds nothing to change: the secret is wrong.
    assert_eq!(
        report.plan[0].action,
        Action::Page {
            about: PageAbout::SecretItselfWrong
        }
    );
    // And a real second difference inside the cooldown is refused by policy: the same fix
    // already ran in this incident, which escalates before the cooldown is even considered.
    s.secrets_client.put_secret_value().secret_id(SECRET_ID)
        .secret_string(json!({"client_id": "drop-prod", "client_secret": "rotated-again", "callback_url": CALLBACK}).to_string())
        .send().await.unwrap();
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:c:3", "req-3", NOW + 180_000)
        .await
        .unwrap();
    assert!(
        matches!(&report.actions[0].decision, Decision::Refuse { reason } if reason == REPEAT_REFUSAL),
        "{report:?}"
    );
    assert_eq!(
        report.actions[1].action,
        Action::Page {
            about: PageAbout::RecurredAfterFix
        }
    );
    assert_eq!(
        outcomes(&report),
        vec![&Outcome::NotRun, &Outcome::Recorded]
    );
    assert_eq!(s.emulator.updates().len(), 1);
}

#[tokio::test]
async fn an_operation_in_progress_defers_and_the_redelivery_completes() {
    let s = stack(Mode::Live, "old-secret", 300).await;
    let arn = s.remediator.settings().apprunner_service_arn.clone();
    s.emulator
        .call("AppRunner.StartDeployment", json!({"ServiceArn": arn}))
        .unwrap();
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:d:1", "req-1", NOW)
        .await
        .unwrap();
    assert!(
        matches!(outcomes(&report)[..], [Outcome::Deferred { .. }]),
        "{report:?}"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:d:1", "req-2", NOW + 1_000)
        .await
        .unwrap();
    assert!(
        report.duplicate_of.is_none(),
        "a deferral is not a final answer"
    );
    assert!(
        matches!(outcomes(&report)[..], [Outcome::Started { .. }]),
        "{report:?}"
    );
}

#[tokio::test]
async fn config_equal_to_the_secret_pages_and_touches_nothing() {
    let s = stack(Mode::Live, RIGHT_SECRET, 20).await;
    assert!(!s.local.service_arn.is_empty());
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:e:1", "req-1", NOW)
        .await
        .unwrap();
    assert_eq!(report.plan.len(), 1);
    assert_eq!(
        report.plan[0].action,
        Action::Page {
            about: PageAbout::SecretItselfWrong
        }
    );
    assert_eq!(outcomes(&report), vec![&Outcome::Recorded]);
    assert!(s.emulator.updates().is_empty());
}

#[tokio::test]
async fn a_bad_secret_leaves_everything_untouched_and_says_why() {
    let s = stack(Mode::Live, "old-secret", 20).await;
    s.secrets_client
        .put_secret_value()
        .secret_id(SECRET_ID)
        .secret_string("client_secret=oops-not-json")
        .send()
        .await
        .unwrap();
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:f:1", "req-1", NOW)
        .await
        .unwrap();
    assert!(report.check.is_none());
    let reason = report.check_error.clone().unwrap();
    assert!(
        reason.contains("is not JSON") && !reason.contains("oops"),
        "{reason}"
    );
    assert!(report.actions.iter().all(|a| !a.action.mutates()));
    assert!(s.emulator.updates().is_empty());
}

#[tokio::test]
async fn do_no_harm_causes_change_nothing() {
    let s = stack(Mode::Live, "old-secret", 20).await;
    for line in [
        "BankID API error: rate_limit_exceeded",
        "[cause]: Error: getaddrinfo ENOTFOUND auth.bankid.no",
        "OPError: expected 200 OK, got: 503 Service Unavailable [bankid]",
    ] {
        let report = s
            .remediator
            .remediate(&diagnose_lines([line; 3]), line, "req", NOW)
            .await
            .unwrap();
        assert!(!report.plan.is_empty());
        for a in &report.actions {
            match (&a.action, &a.outcome) {
                (Action::ProbeNetwork, Outcome::Probed { results }) => {
                    let steps: Vec<(&str, bool)> = results.iter().map(|r| (r.name, r.ok)).collect();
                    assert_eq!(steps, vec![("dns", true), ("tcp", false)], "{results:?}");
                }
                (_, Outcome::Recorded) => {}
                other => panic!("{line}: unexpected {other:?}"),
            }
        }
    }
    assert!(
        s.emulator.requests().is_empty(),
        "not even a read: {:?}",
        s.emulator.requests()
    );
}

#[tokio::test]
async fn state_failures_purge_once_then_escalate() {
    let dir = std::env::temp_dir().join(format!("engine-sessions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("sessions.db");
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "CREATE TABLE sessions (sid TEXT PRIMARY KEY, expires_at TEXT);
             INSERT INTO sessions VALUES ('stale1', datetime('now', '-1 hour')), ('stale2', datetime('now', '-11 minutes')),
               ('live1', datetime('now', '+30 minutes'));",
        )
        .unwrap();
    let s = stack_with_sessions(
        Mode::Live,
        "old-secret",
        20,
        Some(format!("sqlite://{}", db.display())),
    )
    .await;
    let state_failing = diagnose_lines(["RPError: state mismatch, expected a, got: b"; 5]);
    let report = s
        .remediator
        .remediate(&state_failing, "logs:g:1", "req-1", NOW)
        .await
        .unwrap();
    match outcomes(&report)[..] {
        [Outcome::Purged(p)] => assert_eq!(p.purged, 2),
        _ => panic!("{report:?}"),
    }
    let again = s
        .remediator
        .remediate(&state_failing, "logs:g:2", "req-2", NOW + 60_000)
        .await
        .unwrap();
    assert!(
        matches!(&again.actions[0].decision, Decision::Refuse { .. }),
        "{again:?}"
    );
    assert_eq!(
        again.actions[1].action,
        Action::Page {
            about: PageAbout::RecurredAfterFix
        }
    );
    assert!(
        s.emulator.updates().is_empty(),
        "state failures never deploy"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_session_store_that_is_down_is_reported_and_blocks_nothing() {
    let port = local_stack::free_port().unwrap();
    let s = stack_with_sessions(
        Mode::Live,
        "old-secret",
        20,
        Some(format!("redis://127.0.0.1:{port}/0")),
    )
    .await;
    let state_failing = diagnose_lines(["RPError: state mismatch, expected a, got: b"; 5]);
    let report = s
        .remediator
        .remediate(&state_failing, "logs:h:1", "req-1", NOW)
        .await
        .unwrap();
    assert!(
        matches!(outcomes(&report)[..], [Outcome::Failed { error }] if error.starts_with("session store (Redis)")),
        "{report:?}"
    );
    // The lock was released: the next signal for another cause proceeds.
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:h:2", "req-2", NOW)
        .await
        .unwrap();
    assert!(
        matches!(outcomes(&report)[..], [Outcome::Started { .. }]),
        "{report:?}"
    );
}

#[tokio::test]
async fn a_wrong_callback_is_fixed_and_nothing_else_changes() {
    let s = stack(Mode::Live, RIGHT_SECRET, 20).await;
    let arn = s.remediator.settings().apprunner_service_arn.clone();
    // Someone deployed the old domain's callback.
    let mut source = s
        .emulator
        .call("AppRunner.DescribeService", json!({"ServiceArn": arn}))
        .unwrap()["Service"]["SourceConfiguration"]
        .clone();
    source["ImageRepository"]["ImageConfiguration"]["RuntimeEnvironmentVariables"]
        ["BANKID_CALLBACK_URL"] = json!("https://old.getdrop.no/api/auth/bankid/callback");
    s.emulator
        .call(
            "AppRunner.UpdateService",
            json!({"ServiceArn": arn, "SourceConfiguration": source}),
        )
        .unwrap();
    tokio::time::sleep(Duration::from_millis(40)).await;

    let failing = diagnose_lines(["BankID OAuth error: redirect_uri_mismatch"; 2]);
    let report = s
        .remediator
        .remediate(&failing, "logs:i:1", "req-1", NOW)
        .await
        .unwrap();
    assert_eq!(
        report.plan[0].action,
        Action::UpdateEnvironment {
            variables: vec!["BANKID_CALLBACK_URL"]
        }
    );
    assert!(
        matches!(outcomes(&report)[..], [Outcome::Started { .. }]),
        "{report:?}"
    );
    let sent = s.emulator.updates();
    let ours = sent.last().unwrap();
    let mut expected = source.clone();
    expected["ImageRepository"]["ImageConfiguration"]["RuntimeEnvironmentVariables"]
        ["BANKID_CALLBACK_URL"] = json!(CALLBACK);
    assert_eq!(ours["SourceConfiguration"], expected);
}

#[tokio::test]
async fn a_wrong_service_arn_changes_nothing_and_says_why() {
    let local = LocalStack::start("old-secret", Duration::from_millis(20))
        .await
        .unwrap();
    let wrong = "arn:aws:apprunner:eu-west-1:123456789012:service/not-ours/0000";
    let remediator = Remediator::new(
        local.settings(Mode::Live),
        AppRunner::new(local.apprunner_client(), wrong),
        Secrets::new(local.secrets_client(), SECRET_ID),
        StateStore::new(local.dynamodb_client(), local_stack::stack::TABLE),
    );
    let report = remediator
        .remediate(&credentials_failing(), "logs:j:1", "req-1", NOW)
        .await
        .unwrap();
    assert!(
        report
            .check_error
            .as_deref()
            .unwrap()
            .contains("ResourceNotFoundException"),
        "{report:?}"
    );
    assert!(report.actions.iter().all(|a| !a.action.mutates()));
    assert!(local.emulator.updates().is_empty());
}

#[tokio::test]
async fn unreachable_state_storage_fails_closed_and_the_redelivery_completes() {
    let local = LocalStack::start("old-secret", Duration::from_millis(20))
        .await
        .unwrap();
    let closed = local_stack::free_port().unwrap();
    let unreachable = aws_sdk_dynamodb::Client::from_conf(
        local
            .dynamodb_client()
            .config()
            .to_builder()
            .endpoint_url(format!("http://127.0.0.1:{closed}"))
            .build(),
    );
    let blind = Remediator::new(
        local.settings(Mode::Live),
        AppRunner::new(local.apprunner_client(), &local.service_arn),
        Secrets::new(local.secrets_client(), SECRET_ID),
        StateStore::new(unreachable, local_stack::stack::TABLE),
    );
    let e = blind
        .remediate(&credentials_failing(), "logs:k:1", "req-1", NOW)
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert!(
        local.emulator.updates().is_empty(),
        "no mutating action without state"
    );

    let healthy = Remediator::new(
        local.settings(Mode::Live),
        AppRunner::new(local.apprunner_client(), &local.service_arn),
        Secrets::new(local.secrets_client(), SECRET_ID),
        StateStore::new(local.dynamodb_client(), local_stack::stack::TABLE),
    );
    let report = healthy
        .remediate(&credentials_failing(), "logs:k:1", "req-2", NOW)
        .await
        .unwrap();
    assert!(
        matches!(outcomes(&report)[..], [Outcome::Started { .. }]),
        "{report:?}"
    );
    assert_eq!(local.emulator.updates().len(), 1);
}
