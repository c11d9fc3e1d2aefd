//! The emulator proven with the real `aws-sdk-apprunner` client over HTTP on loopback.

use apprunner_emulator::{Emulator, EmulatorConfig};
use aws_sdk_apprunner::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_apprunner::error::ProvideErrorMetadata;
use aws_sdk_apprunner::types::{
    ImageConfiguration, ImageRepository, ImageRepositoryType, OperationStatus, ServiceStatus,
    SourceConfiguration,
};
use aws_sdk_apprunner::Client;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// The real SDK's configuration, pointed at an emulator with fake credentials.
fn client_config(endpoint: impl Into<String>) -> aws_sdk_apprunner::Config {
    aws_sdk_apprunner::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new(
            "AKIDEMULATOR",
            "emulator-secret",
            None,
            None,
            "test",
        ))
        .endpoint_url(endpoint)
        .build()
}

async fn start(delay_ms: u64) -> (Emulator, Client) {
    let emulator = Emulator::new(EmulatorConfig {
        operation_delay: Duration::from_millis(delay_ms),
        ..EmulatorConfig::default()
    });
    let addr = emulator
        .clone()
        .spawn(0)
        .await
        .expect("emulator binds loopback");
    let config = client_config(format!("http://{addr}"));
    (emulator, Client::from_conf(config))
}

fn seed(emulator: &Emulator) -> String {
    let service = emulator
        .seed_service(json!({
            "ServiceName": "drop-production",
            "SourceConfiguration": {
                "ImageRepository": {
                    "ImageIdentifier": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/drop:2026-12-01",
                    "ImageRepositoryType": "ECR",
                    "ImageConfiguration": {
                        "Port": "3000",
                        "RuntimeEnvironmentVariables": {
                            "BANKID_CLIENT_ID": "drop-prod",
                            "BANKID_CLIENT_SECRET": "old-secret",
                            "BANKID_CALLBACK_URL": "https://getdrop.no/api/auth/bankid/callback",
                            "DATABASE_URL": "postgres://db.internal/drop",
                            "NEXT_PUBLIC_SERVICE_MODE": "live"
                        },
                        "RuntimeEnvironmentSecrets": {
                            "STRIPE_KEY": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbCdEf"
                        }
                    }
                },
                "AutoDeploymentsEnabled": false,
                "AuthenticationConfiguration": {"AccessRoleArn": "arn:aws:iam::123456789012:role/apprunner-ecr"}
            },
            "InstanceConfiguration": {"Cpu": "1024", "Memory": "2048", "InstanceRoleArn": "arn:aws:iam::123456789012:role/drop-instance"}
        }))
        .expect("seeded");
    service["Service"]["ServiceArn"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn wait_until_running(client: &Client, arn: &str) {
    for _ in 0..200 {
        let service = client
            .describe_service()
            .service_arn(arn)
            .send()
            .await
            .unwrap();
        if service.service().unwrap().status() == &ServiceStatus::Running {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the operation never finished");
}

#[tokio::test]
async fn describe_returns_the_seeded_service() {
    let (emulator, client) = start(50).await;
    let arn = seed(&emulator);
    let out = client
        .describe_service()
        .service_arn(&arn)
        .send()
        .await
        .unwrap();
    let service = out.service().unwrap();
    assert_eq!(service.service_name(), "drop-production");
    assert_eq!(service.status(), &ServiceStatus::Running);
    let vars = service
        .source_configuration()
        .and_then(|s| s.image_repository())
        .and_then(|i| i.image_configuration())
        .and_then(|c| c.runtime_environment_variables())
        .unwrap();
    assert_eq!(vars["BANKID_CLIENT_ID"], "drop-prod");
    assert_eq!(
        service
            .instance_configuration()
            .unwrap()
            .instance_role_arn(),
        Some("arn:aws:iam::123456789012:role/drop-instance")
    );
}

#[tokio::test]
async fn an_update_runs_as_an_operation_and_refuses_a_second_one_meanwhile() {
    let (emulator, client) = start(150).await;
    let arn = seed(&emulator);
    let current = client
        .describe_service()
        .service_arn(&arn)
        .send()
        .await
        .unwrap();
    let image = current
        .service()
        .unwrap()
        .source_configuration()
        .unwrap()
        .image_repository()
        .unwrap()
        .clone();
    let mut vars: HashMap<String, String> = image
        .image_configuration()
        .unwrap()
        .runtime_environment_variables()
        .unwrap()
        .clone();
    vars.insert("BANKID_CLIENT_SECRET".into(), "new-secret".into());
    let merged = ImageRepository::builder()
        .image_identifier(image.image_identifier())
        .image_repository_type(image.image_repository_type().clone())
        .image_configuration(
            ImageConfiguration::builder()
                .set_port(
                    image
                        .image_configuration()
                        .unwrap()
                        .port()
                        .map(str::to_owned),
                )
                .set_runtime_environment_variables(Some(vars))
                .set_runtime_environment_secrets(
                    image
                        .image_configuration()
                        .unwrap()
                        .runtime_environment_secrets()
                        .cloned(),
                )
                .build(),
        )
        .build()
        .unwrap();
    let update = client
        .update_service()
        .service_arn(&arn)
        .source_configuration(
            SourceConfiguration::builder()
                .image_repository(merged)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        update.service().unwrap().status(),
        &ServiceStatus::OperationInProgress
    );
    let operation_id = update.operation_id().to_owned();

    let again = client
        .start_deployment()
        .service_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("InvalidStateException"));
    let again = client
        .update_service()
        .service_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert!(again
        .as_service_error()
        .unwrap()
        .is_invalid_state_exception());

    wait_until_running(&client, &arn).await;
    let ops = client
        .list_operations()
        .service_arn(&arn)
        .send()
        .await
        .unwrap();
    let op = &ops.operation_summary_list()[0];
    assert_eq!(op.id(), Some(operation_id.as_str()));
    assert_eq!(op.status(), Some(&OperationStatus::Succeeded));
    assert!(op.ended_at().is_some());

    let after = client
        .describe_service()
        .service_arn(&arn)
        .send()
        .await
        .unwrap();
    let config = after
        .service()
        .unwrap()
        .source_configuration()
        .unwrap()
        .image_repository()
        .unwrap()
        .image_configuration()
        .unwrap()
        .clone();
    assert_eq!(
        config.runtime_environment_variables().unwrap()["BANKID_CLIENT_SECRET"],
        "new-secret"
    );
    assert_eq!(
        config.runtime_environment_variables().unwrap()["DATABASE_URL"],
        "postgres://db.internal/drop"
    );
    assert_eq!(config.runtime_environment_secrets().unwrap().len(), 1);

    let requests = emulator.requests();
    let targets: Vec<&str> = requests
        .iter()
        .map(|r| r["Target"].as_str().unwrap())
        .collect();
    assert!(targets.contains(&"UpdateService") && targets.contains(&"StartDeployment"));
}

#[tokio::test]
async fn a_partial_map_wipes_the_rest_as_app_runner_does() {
    let (emulator, client) = start(10).await;
    let arn = seed(&emulator);
    let partial = ImageRepository::builder()
        .image_identifier("123456789012.dkr.ecr.eu-west-1.amazonaws.com/drop:2026-12-01")
        .image_repository_type(ImageRepositoryType::Ecr)
        .image_configuration(
            ImageConfiguration::builder()
                .runtime_environment_variables("BANKID_CLIENT_SECRET", "new-secret")
                .build(),
        )
        .build()
        .unwrap();
    client
        .update_service()
        .service_arn(&arn)
        .source_configuration(
            SourceConfiguration::builder()
                .image_repository(partial)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_until_running(&client, &arn).await;
    let after = client
        .describe_service()
        .service_arn(&arn)
        .send()
        .await
        .unwrap();
    let vars = after
        .service()
        .unwrap()
        .source_configuration()
        .unwrap()
        .image_repository()
        .unwrap()
        .image_configuration()
        .unwrap()
        .runtime_environment_variables()
        .unwrap()
        .clone();
    assert_eq!(vars.len(), 1, "only what was sent survives: {vars:?}");
}

#[tokio::test]
async fn a_rolled_back_deployment_restores_the_previous_configuration() {
    let (emulator, client) = start(20).await;
    let arn = seed(&emulator);
    emulator
        .plan(json!({"ServiceArn": arn, "Outcome": "ROLLBACK_SUCCEEDED"}))
        .unwrap();
    let partial = ImageRepository::builder()
        .image_identifier("123456789012.dkr.ecr.eu-west-1.amazonaws.com/drop:broken")
        .image_repository_type(ImageRepositoryType::Ecr)
        .build()
        .unwrap();
    client
        .update_service()
        .service_arn(&arn)
        .source_configuration(
            SourceConfiguration::builder()
                .image_repository(partial)
                .build(),
        )
        .send()
        .await
        .unwrap();
    wait_until_running(&client, &arn).await;
    let ops = client
        .list_operations()
        .service_arn(&arn)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ops.operation_summary_list()[0].status(),
        Some(&OperationStatus::RollbackSucceeded)
    );
    let after = client
        .describe_service()
        .service_arn(&arn)
        .send()
        .await
        .unwrap();
    let image = after
        .service()
        .unwrap()
        .source_configuration()
        .unwrap()
        .image_repository()
        .unwrap();
    assert_eq!(
        image.image_identifier(),
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/drop:2026-12-01"
    );
}

#[tokio::test]
async fn unknown_services_and_injected_faults_are_real_sdk_errors() {
    let (emulator, client) = start(10).await;
    let arn = seed(&emulator);
    let missing = client
        .describe_service()
        .service_arn("arn:aws:apprunner:eu-west-1:123456789012:service/nope/0")
        .send()
        .await
        .unwrap_err();
    assert!(missing
        .as_service_error()
        .unwrap()
        .is_resource_not_found_exception());

    // Two 500s, then success: the SDK's standard retry absorbs them.
    emulator.fault(json!({"Target": "DescribeService", "Status": 500, "Type": "InternalServiceErrorException", "Count": 2})).unwrap();
    client
        .describe_service()
        .service_arn(&arn)
        .send()
        .await
        .unwrap();
    let describes = emulator
        .requests()
        .iter()
        .filter(|r| r["Target"] == "DescribeService")
        .count();
    assert_eq!(describes, 4, "one not found, two faults, one success");

    // More faults than the SDK retries: the error reaches the caller.
    emulator.fault(json!({"Target": "ListOperations", "Status": 400, "Type": "ThrottlingException", "Count": 10})).unwrap();
    let throttled = client
        .list_operations()
        .service_arn(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(throttled.code(), Some("ThrottlingException"));
}

#[tokio::test]
async fn list_operations_pages_newest_first() {
    let (emulator, client) = start(0).await;
    let arn = seed(&emulator);
    for _ in 0..3 {
        client
            .start_deployment()
            .service_arn(&arn)
            .send()
            .await
            .unwrap();
        wait_until_running(&client, &arn).await;
    }
    let first = client
        .list_operations()
        .service_arn(&arn)
        .max_results(2)
        .send()
        .await
        .unwrap();
    assert_eq!(first.operation_summary_list().len(), 2);
    let token = first.next_token().unwrap().to_owned();
    let rest = client
        .list_operations()
        .service_arn(&arn)
        .next_token(token)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.operation_summary_list().len(), 1);
    assert!(rest.next_token().is_none());
    assert!(
        first.operation_summary_list()[0].started_at()
            >= first.operation_summary_list()[1].started_at()
    );
}

/// The binary, as `make demo` and the local stack start it: one command, a chosen port.
#[tokio::test]
async fn the_binary_serves_on_the_port_it_is_given() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_apprunner-emulator"))
        .args(["--port", "0", "--operation-ms", "5"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the emulator starts");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    let config = client_config(&url);
    let err = Client::from_conf(config)
        .describe_service()
        .service_arn("arn:aws:apprunner:eu-west-1:123456789012:service/x/0")
        .send()
        .await
        .unwrap_err();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(err
        .as_service_error()
        .unwrap()
        .is_resource_not_found_exception());
}
