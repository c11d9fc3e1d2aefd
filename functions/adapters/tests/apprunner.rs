//! The App Runner adapter against the emulator, over the real SDK and HTTP.

use apprunner_emulator::{Emulator, EmulatorConfig};
use remediator_adapters::apprunner::{AppRunner, ChangeOutcome};
use remediator_adapters::AdapterError;
use remediator_core::remedy::{Setting, CALLBACK_URL_VAR, CLIENT_SECRET_VAR};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use std::time::Duration;

const STRIPE_REF: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbCdEf";

fn source() -> Value {
    json!({
        "ImageRepository": {
            "ImageIdentifier": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/drop:2026-12-01",
            "ImageRepositoryType": "ECR",
            "ImageConfiguration": {
                "Port": "3000",
                "StartCommand": "node server.js",
                "RuntimeEnvironmentVariables": {
                    "BANKID_CLIENT_ID": "drop-prod",
                    "BANKID_CLIENT_SECRET": "old-secret",
                    "BANKID_CALLBACK_URL": "https://getdrop.no/api/auth/bankid/callback",
                    "DATABASE_URL": "postgres://db.internal:5432/drop?sslmode=require",
                    "NEXT_PUBLIC_SERVICE_MODE": "live",
                    "EMPTY": "",
                    "UNICODE": "blåbær ✓"
                },
                "RuntimeEnvironmentSecrets": {"STRIPE_KEY": STRIPE_REF}
            }
        },
        "AutoDeploymentsEnabled": false,
        "AuthenticationConfiguration": {"AccessRoleArn": "arn:aws:iam::123456789012:role/apprunner-ecr"}
    })
}

async fn start(delay_ms: u64, source: Value) -> (Emulator, AppRunner, String) {
    let emulator = Emulator::new(EmulatorConfig {
        operation_delay: Duration::from_millis(delay_ms),
        ..EmulatorConfig::default()
    });
    let addr = emulator.clone().spawn(0).await.unwrap();
    let arn = emulator
        .seed_service(json!({"ServiceName": "drop-production", "SourceConfiguration": source,
            "InstanceConfiguration": {"Cpu": "1024", "Memory": "2048", "InstanceRoleArn": "arn:aws:iam::123456789012:role/drop-instance"}}))
        .unwrap()["Service"]["ServiceArn"]
        .as_str()
        .unwrap()
        .to_owned();
    (
        emulator,
        AppRunner::new(client(&format!("http://{addr}")), &arn),
        arn,
    )
}

fn client(endpoint: &str) -> aws_sdk_apprunner::Client {
    local_stack::clients::apprunner(endpoint)
}

#[tokio::test]
async fn describe_reads_the_bankid_settings_and_where_they_come_from() {
    let mut s = source();
    s["ImageRepository"]["ImageConfiguration"]["RuntimeEnvironmentSecrets"]["BANKID_CLIENT_ID"] =
        json!("arn:aws:secretsmanager:eu-west-1:123456789012:secret:bankid-XyZ");
    s["ImageRepository"]["ImageConfiguration"]["RuntimeEnvironmentVariables"]
        .as_object_mut()
        .unwrap()
        .remove("BANKID_CALLBACK_URL");
    let (_, apprunner, _) = start(10, s).await;
    let view = apprunner.describe().await.unwrap();
    assert!(
        matches!(view.settings.client_id, Setting::SecretReference(_)),
        "a reference wins over a variable"
    );
    assert!(
        matches!(&view.settings.client_secret, Setting::Variable(v) if v.expose_secret() == "old-secret")
    );
    assert!(matches!(view.settings.callback_url, Setting::Missing));
}

#[tokio::test]
async fn an_update_changes_only_the_named_variable_and_sends_only_the_source() {
    let (emulator, apprunner, arn) = start(30, source()).await;
    let view = apprunner.describe().await.unwrap();
    let new_secret = SecretString::from("new-secret".to_owned());
    let outcome = apprunner
        .update_environment(&view, &[(CLIENT_SECRET_VAR, &new_secret)])
        .await
        .unwrap();
    assert!(matches!(outcome, ChangeOutcome::Started { .. }));

    let sent = emulator.updates();
    assert_eq!(sent.len(), 1);
    let body = &sent[0];
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        vec!["ServiceArn", "SourceConfiguration"],
        "nothing else is sent"
    );
    assert_eq!(body["ServiceArn"], arn.as_str());
    let mut expected = source();
    expected["ImageRepository"]["ImageConfiguration"]["RuntimeEnvironmentVariables"]
        ["BANKID_CLIENT_SECRET"] = json!("new-secret");
    assert_eq!(
        body["SourceConfiguration"], expected,
        "every other variable, reference and field byte for byte"
    );
}

#[tokio::test]
async fn an_update_during_an_operation_is_deferred_not_failed() {
    let (emulator, apprunner, _) = start(2_000, source()).await;
    let view = apprunner.describe().await.unwrap();
    let value = SecretString::from("https://getdrop.no/api/auth/bankid/callback".to_owned());
    apprunner
        .update_environment(&view, &[(CALLBACK_URL_VAR, &value)])
        .await
        .unwrap();
    let second = apprunner
        .update_environment(&view, &[(CALLBACK_URL_VAR, &value)])
        .await
        .unwrap();
    assert!(
        matches!(second, ChangeOutcome::Deferred { ref reason } if reason.contains("OPERATION_IN_PROGRESS")),
        "{second:?}"
    );
    let deployment = apprunner.start_deployment().await.unwrap();
    assert!(matches!(deployment, ChangeOutcome::Deferred { .. }));
    assert_eq!(emulator.updates().len(), 2);
}

#[tokio::test]
async fn operations_are_followed_to_their_end() {
    let (emulator, apprunner, arn) = start(20, source()).await;
    emulator
        .plan(json!({"ServiceArn": arn, "Outcome": "ROLLBACK_SUCCEEDED"}))
        .unwrap();
    let ChangeOutcome::Started { operation_id } = apprunner.start_deployment().await.unwrap()
    else {
        panic!("the deployment should start");
    };
    let running = apprunner.operation(&operation_id).await.unwrap().unwrap();
    assert_eq!(
        (running.kind.as_str(), running.status.as_str()),
        ("START_DEPLOYMENT", "IN_PROGRESS")
    );
    assert!(!running.finished());
    tokio::time::sleep(Duration::from_millis(60)).await;
    let done = apprunner.operation(&operation_id).await.unwrap().unwrap();
    assert!(done.finished() && !done.succeeded(), "{done:?}");
    assert_eq!(done.status, "ROLLBACK_SUCCEEDED");
    assert_eq!(
        apprunner.operation("no-such-operation").await.unwrap(),
        None
    );
}

#[tokio::test]
async fn errors_say_whether_a_retry_can_help() {
    let (emulator, apprunner, _) = start(10, source()).await;
    let wrong = AppRunner::new(
        client(&format!("http://{}", "127.0.0.1:1")),
        "arn:aws:apprunner:eu-west-1:123456789012:service/x/0",
    );
    let unreachable = wrong.describe().await.err().unwrap();
    assert!(unreachable.retryable(), "{unreachable}");

    let missing = AppRunner::new(
        apprunner_client_of(&emulator).await,
        "arn:aws:apprunner:eu-west-1:123456789012:service/nope/0",
    );
    let e = missing.describe().await.err().unwrap();
    assert!(
        matches!(&e, AdapterError::Permanent(m) if m.contains("ResourceNotFoundException")),
        "{e}"
    );

    emulator.fault(json!({"Target": "UpdateService", "Status": 500, "Type": "InternalServiceErrorException", "Count": 10})).unwrap();
    let view = apprunner.describe().await.unwrap();
    let value = SecretString::from("x".to_owned());
    let e = apprunner
        .update_environment(&view, &[(CLIENT_SECRET_VAR, &value)])
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert!(!e.to_string().contains('x') || !e.to_string().contains("\"x\""));
}

async fn apprunner_client_of(emulator: &Emulator) -> aws_sdk_apprunner::Client {
    let addr = emulator.clone().spawn(0).await.unwrap();
    client(&format!("http://{addr}"))
}

#[tokio::test]
async fn a_code_repository_configured_by_apprunner_yaml_is_not_touched() {
    let code = json!({
        "CodeRepository": {
            "RepositoryUrl": "https://github.com/example/drop",
            "SourceCodeVersion": {"Type": "BRANCH", "Value": "main"},
            "CodeConfiguration": {"ConfigurationSource": "REPOSITORY"}
        },
        "AutoDeploymentsEnabled": true
    });
    let (emulator, apprunner, _) = start(10, code).await;
    let view = apprunner.describe().await.unwrap();
    assert!(matches!(view.settings.client_secret, Setting::Missing));
    let value = SecretString::from("x".to_owned());
    let e = apprunner
        .update_environment(&view, &[(CLIENT_SECRET_VAR, &value)])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("apprunner.yaml"), "{e}");
    assert!(emulator.updates().is_empty());
}

#[tokio::test]
async fn a_code_repository_with_api_values_is_merged_like_an_image() {
    let code = json!({
        "CodeRepository": {
            "RepositoryUrl": "https://github.com/example/drop",
            "SourceCodeVersion": {"Type": "BRANCH", "Value": "main"},
            "CodeConfiguration": {"ConfigurationSource": "API", "CodeConfigurationValues": {
                "Runtime": "NODEJS_22", "BuildCommand": "npm ci && npm run build", "StartCommand": "npm start", "Port": "3000",
                "RuntimeEnvironmentVariables": {"BANKID_CLIENT_SECRET": "old", "OTHER": "kept"}}}
        }
    });
    let (emulator, apprunner, _) = start(10, code.clone()).await;
    let view = apprunner.describe().await.unwrap();
    let value = SecretString::from("new".to_owned());
    apprunner
        .update_environment(&view, &[(CLIENT_SECRET_VAR, &value)])
        .await
        .unwrap();
    let mut expected = code;
    expected["CodeRepository"]["CodeConfiguration"]["CodeConfigurationValues"]
        ["RuntimeEnvironmentVariables"]["BANKID_CLIENT_SECRET"] = json!("new");
    assert_eq!(emulator.updates()[0]["SourceConfiguration"], expected);
}
