//! The triage handler configured from the environment exactly as in Lambda (aws-config reading
//! `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_APPRUNNER`), against the local stack.
//!
//! One test function: it sets process environment variables, which other threads must not race.

use local_stack::stack::{Stack, RIGHT_SECRET};
use remediator_core::settings::Mode;
use remediator_tests::fixtures_dir;
use serde_json::Value;
use std::time::Duration;
use triage::Triage;

fn event(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures_dir().join("events").join(name)).unwrap())
        .unwrap()
}

/// Sets the environment a deployed triage would have for `stack`, and cold-starts triage from it.
async fn configured_from_environment(stack: &Stack) -> Triage {
    for (name, value) in stack.environment(Mode::Live) {
        std::env::set_var(name, value);
    }
    std::env::set_var("AWS_ENDPOINT_URL", &stack.moto.endpoint);
    std::env::set_var("AWS_ENDPOINT_URL_APPRUNNER", &stack.emulator_url);
    std::env::set_var("AWS_ACCESS_KEY_ID", local_stack::ACCESS_KEY_ID);
    std::env::set_var("AWS_SECRET_ACCESS_KEY", local_stack::SECRET_ACCESS_KEY);
    std::env::set_var("AWS_REGION", local_stack::REGION);
    Triage::from_env().await.expect("complete configuration")
}

#[tokio::test]
async fn triage_from_the_environment_fixes_wrong_credentials_once() {
    let stack = Stack::start("old-secret", Duration::from_millis(50))
        .await
        .expect("local stack");

    // A partial configuration fails the cold start, naming what is missing.
    std::env::set_var("APPRUNNER_SERVICE_ARN", &stack.service_arn);
    let e = Triage::from_env()
        .await
        .err()
        .expect("incomplete configuration is refused");
    assert_eq!(
        e.to_string(),
        "configuration: EXPECTED_CALLBACK_URL is not set"
    );

    let triage = configured_from_environment(&stack).await;

    let out = triage
        .triage(
            event("logs-invalid-credentials.json"),
            "req-1",
            triage::now_ms(),
        )
        .await
        .unwrap();
    let response = serde_json::to_value(&out.response).unwrap();
    assert_eq!(response["remediation"], "enabled");
    assert_eq!(response["diagnosis"]["cause"], "invalid_credentials");
    assert_eq!(response["check"]["client_secret"], "differs");
    assert_eq!(response["plan"][0]["kind"], "update_environment");
    assert_eq!(response["plan"][0]["variables"][0], "BANKID_CLIENT_SECRET");
    assert_eq!(response["actions"][0]["decision"], "run");
    assert_eq!(response["actions"][0]["outcome"]["status"], "started");
    let text = response.to_string();
    assert!(
        !text.contains(RIGHT_SECRET) && !text.contains("old-secret"),
        "{text}"
    );

    let updates = stack.emulator.updates();
    assert_eq!(updates.len(), 1);
    let vars = &updates[0]["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"]
        ["RuntimeEnvironmentVariables"];
    assert_eq!(vars["BANKID_CLIENT_SECRET"], RIGHT_SECRET);
    assert_eq!(
        vars.as_object().unwrap().len(),
        5,
        "every other variable kept"
    );

    // The same subscription batch delivered again: the earlier answer, no second update.
    let again = triage
        .triage(
            event("logs-invalid-credentials.json"),
            "req-2",
            triage::now_ms(),
        )
        .await
        .unwrap();
    assert!(again.response.report.duplicate_of.is_some());
    let updates = stack.emulator.updates().len();
    assert_eq!(updates, 1);

    // A do-no-harm cause plans a page and touches App Runner not at all.
    let before = stack.emulator.requests().len();
    let outage = triage
        .triage(event("logs-bankid-outage.json"), "req-3", triage::now_ms())
        .await
        .unwrap();
    assert!(outage
        .response
        .report
        .actions
        .iter()
        .all(|a| !a.action.mutates()));
    assert_eq!(stack.emulator.requests().len(), before);

    // An alarm carries no lines: triage reads the last ten minutes of the app's log group.
    let alarmed = Stack::start("old-secret", Duration::from_millis(50))
        .await
        .expect("second stack");
    alarmed
        .write_app_logs(
            &[
                "GET /api/health 200 2ms",
                "BankID OAuth error: invalid_client",
                "OPError: invalid_client (Invalid client credentials)",
            ],
            triage::now_ms(),
            60_000,
        )
        .await
        .unwrap();
    let triage = configured_from_environment(&alarmed).await;
    let out = triage
        .triage(event("alarm-sns.json"), "req-4", triage::now_ms())
        .await
        .unwrap();
    assert_eq!(out.response.logs_read, Some(3));
    assert_eq!(
        out.response.diagnosis.cause.map(|c| c.id()),
        Some("invalid_credentials")
    );
    let updates = alarmed.emulator.updates().len();
    assert_eq!(updates, 1);
}
