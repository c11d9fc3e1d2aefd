//! The engine end to end on the local stack: the App Runner emulator, and moto for Secrets
//! Manager and DynamoDB, all over the real SDKs and HTTP.

use apprunner_emulator::{Emulator, EmulatorConfig};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use local_stack::Moto;
use remediator_adapters::apprunner::AppRunner;
use remediator_adapters::engine::{Outcome, Remediator, Report};
use remediator_adapters::secrets::Secrets;
use remediator_adapters::state::StateStore;
use remediator_core::diagnosis::{diagnose_lines, Diagnosis};
use remediator_core::remedy::{Action, Decision, PageAbout};
use remediator_core::settings::{Mode, Settings};
use serde_json::{json, Value};
use std::time::Duration;

const CALLBACK: &str = "https://getdrop.no/api/auth/bankid/callback";
const NOW: i64 = 1_796_353_920_000;

struct Stack {
    _moto: Moto,
    emulator: Emulator,
    remediator: Remediator,
    secrets_client: aws_sdk_secretsmanager::Client,
}

fn credentials() -> aws_sdk_dynamodb::config::Credentials {
    aws_sdk_dynamodb::config::Credentials::new(
        local_stack::ACCESS_KEY_ID,
        local_stack::SECRET_ACCESS_KEY,
        None,
        None,
        "test",
    )
}

async fn stack(mode: Mode, service_secret: &str, operation_ms: u64) -> Stack {
    let moto = Moto::start().expect("moto server");
    let emulator = Emulator::new(EmulatorConfig {
        operation_delay: Duration::from_millis(operation_ms),
        ..EmulatorConfig::default()
    });
    let addr = emulator.clone().spawn(0).await.unwrap();
    let arn = emulator
        .seed_service(json!({"ServiceName": "drop-production", "SourceConfiguration": {"ImageRepository": {
            "ImageIdentifier": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/drop:1", "ImageRepositoryType": "ECR",
            "ImageConfiguration": {"Port": "3000", "RuntimeEnvironmentVariables": {
                "BANKID_CLIENT_ID": "drop-prod", "BANKID_CLIENT_SECRET": service_secret,
                "BANKID_CALLBACK_URL": CALLBACK, "DATABASE_URL": "postgres://db/drop"},
                "RuntimeEnvironmentSecrets": {"STRIPE_KEY": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbC"}}}}}))
        .unwrap()["Service"]["ServiceArn"]
        .as_str()
        .unwrap()
        .to_owned();

    let region = aws_sdk_dynamodb::config::Region::new(local_stack::REGION);
    let behavior = aws_sdk_dynamodb::config::BehaviorVersion::latest();
    let apprunner = aws_sdk_apprunner::Client::from_conf(
        aws_sdk_apprunner::Config::builder()
            .behavior_version(behavior)
            .region(region.clone())
            .credentials_provider(credentials())
            .endpoint_url(format!("http://{addr}"))
            .build(),
    );
    let secrets_client = aws_sdk_secretsmanager::Client::from_conf(
        aws_sdk_secretsmanager::Config::builder()
            .behavior_version(behavior)
            .region(region.clone())
            .credentials_provider(credentials())
            .endpoint_url(&moto.endpoint)
            .build(),
    );
    secrets_client
        .create_secret()
        .name("bankid/oauth")
        .secret_string(json!({"client_id": "drop-prod", "client_secret": "right-secret", "callback_url": CALLBACK}).to_string())
        .send()
        .await
        .unwrap();
    let dynamodb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::Config::builder()
            .behavior_version(behavior)
            .region(region)
            .credentials_provider(credentials())
            .endpoint_url(&moto.endpoint)
            .build(),
    );
    dynamodb
        .create_table()
        .table_name("bankid-remediator")
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();

    let env = [
        ("APPRUNNER_SERVICE_ARN", arn.clone()),
        ("BANKID_SECRET_ID", "bankid/oauth".into()),
        ("EXPECTED_CALLBACK_URL", CALLBACK.into()),
        ("APP_BASE_URL", "https://getdrop.no".into()),
        ("SESSION_STORE_URL", "redis://127.0.0.1:6379/0".into()),
        (
            "APP_LOG_GROUP",
            "/aws/apprunner/drop-production/x/application".into(),
        ),
        ("STATE_TABLE", "bankid-remediator".into()),
        (
            "REMEDIATOR_MODE",
            if mode == Mode::DryRun {
                "dry_run"
            } else {
                "live"
            }
            .into(),
        ),
    ];
    let settings =
        Settings::from_lookup(|name| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
            .unwrap();
    let remediator = Remediator::new(
        settings,
        AppRunner::new(apprunner, &arn),
        Secrets::new(secrets_client.clone(), "bankid/oauth"),
        StateStore::new(dynamodb, "bankid-remediator"),
    );
    Stack {
        _moto: moto,
        emulator,
        remediator,
        secrets_client,
    }
}

fn credentials_failing() -> Diagnosis {
    diagnose_lines(["OPError: invalid_client (Invalid client credentials)"; 3])
}

fn updates(emulator: &Emulator) -> Vec<Value> {
    emulator
        .requests()
        .into_iter()
        .filter(|r| r["Target"] == "UpdateService")
        .map(|r| r["Body"].clone())
        .collect()
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
    let sent = updates(&s.emulator);
    assert_eq!(sent.len(), 1);
    let vars = &sent[0]["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"];
    assert_eq!(
        vars["RuntimeEnvironmentVariables"]["BANKID_CLIENT_SECRET"],
        "right-secret"
    );
    assert_eq!(
        vars["RuntimeEnvironmentVariables"]["DATABASE_URL"],
        "postgres://db/drop"
    );
    assert_eq!(
        vars["RuntimeEnvironmentSecrets"]["STRIPE_KEY"],
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbC"
    );

    let again = s
        .remediator
        .remediate(&credentials_failing(), "logs:a:1", "req-2", NOW + 1000)
        .await
        .unwrap();
    assert!(again.duplicate_of.is_some());
    assert!(again.actions.is_empty());
    assert_eq!(updates(&s.emulator).len(), 1);
    let text = serde_json::to_string(&again).unwrap() + &serde_json::to_string(&report).unwrap();
    assert!(
        !text.contains("right-secret") && !text.contains("old-secret"),
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
    assert_eq!(updates(&s.emulator).len(), 1);
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
    assert!(updates(&s.emulator).is_empty());
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
    // And a real second difference inside the cooldown is refused by policy.
    s.secrets_client.put_secret_value().secret_id("bankid/oauth")
        .secret_string(json!({"client_id": "drop-prod", "client_secret": "rotated-again", "callback_url": CALLBACK}).to_string())
        .send().await.unwrap();
    let report = s
        .remediator
        .remediate(&credentials_failing(), "logs:c:3", "req-3", NOW + 180_000)
        .await
        .unwrap();
    assert!(
        matches!(&report.actions[0].decision, Decision::Refuse { reason } if reason.contains("cooldown")),
        "{report:?}"
    );
    assert_eq!(outcomes(&report), vec![&Outcome::NotRun]);
    assert_eq!(updates(&s.emulator).len(), 1);
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
    let s = stack(Mode::Live, "right-secret", 20).await;
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
    assert!(updates(&s.emulator).is_empty());
}

#[tokio::test]
async fn a_bad_secret_leaves_everything_untouched_and_says_why() {
    let s = stack(Mode::Live, "old-secret", 20).await;
    s.secrets_client
        .put_secret_value()
        .secret_id("bankid/oauth")
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
    assert!(updates(&s.emulator).is_empty());
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
        assert!(
            report
                .actions
                .iter()
                .all(|a| a.outcome == Outcome::Recorded),
            "{report:?}"
        );
    }
    assert!(
        s.emulator.requests().is_empty(),
        "not even a read: {:?}",
        s.emulator.requests()
    );
}
