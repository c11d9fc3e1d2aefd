//! The incident commands against a local stack, configured as a person's shell would be: the
//! Lambdas' variables and the standard AWS endpoint variables.

use local_stack::stack::{Stack, RIGHT_SECRET};
use remediator_core::settings::Mode;
use std::process::{Command, Output};
use std::time::Duration;

fn remediator(stack: &Stack, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_remediator"))
        .args(args)
        .env_clear()
        .envs(stack.environment(Mode::Live))
        .env("AWS_ENDPOINT_URL", &stack.moto.endpoint)
        .env("AWS_ENDPOINT_URL_APPRUNNER", &stack.emulator_url)
        .env("AWS_ACCESS_KEY_ID", local_stack::ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", local_stack::SECRET_ACCESS_KEY)
        .env("AWS_REGION", local_stack::REGION)
        .output()
        .expect("remediator runs")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[tokio::test]
async fn status_ack_report_and_refusals_from_the_command_line() {
    let stack = Stack::start(RIGHT_SECRET, Duration::from_millis(50))
        .await
        .unwrap()
        .with_bankid()
        .await
        .unwrap();
    stack.bankid.as_ref().unwrap().set_up(false);
    let (triage, _) = remediator_tests::lambdas(&stack, Mode::Live);
    let event: serde_json::Value = serde_json::from_slice(
        &std::fs::read(remediator_tests::fixtures_dir().join("events/logs-bankid-outage.json"))
            .unwrap(),
    )
    .unwrap();
    let opened = triage.triage(event, "req", triage::now_ms()).await.unwrap();
    let id = opened.response.incident.unwrap().id;

    let status: serde_json::Value =
        serde_json::from_str(&stdout(&remediator(&stack, &["status"]))).unwrap();
    assert_eq!(status["incident"]["id"], id.as_str());
    assert_eq!(status["incident"]["cause"], "bankid_outage");

    let acked: serde_json::Value =
        serde_json::from_str(&stdout(&remediator(&stack, &["ack", &id, "--by", "john"]))).unwrap();
    assert_eq!(acked["incident"]["acked_by"], "john");

    let report = stdout(&remediator(&stack, &["report", &id]));
    assert!(
        report.starts_with(&format!("# Incident {id}: BankID bankid_outage")),
        "{report}"
    );
    assert!(report.contains("acknowledged by john"), "{report}");

    let refused = remediator(
        &stack,
        &[
            "approve-fallback",
            &id,
            "--token",
            "0123456789abcdef",
            "--by",
            "alem",
        ],
    );
    assert_eq!(refused.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&refused.stderr).trim_end(),
        "remediator: approval refused: no fallback approval was requested in this incident"
    );
    let unconfigured = Command::new(env!("CARGO_BIN_EXE_remediator"))
        .arg("tick")
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(unconfigured.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&unconfigured.stderr).trim_end(),
        "remediator: configuration: APPRUNNER_SERVICE_ARN is not set"
    );
}
