//! A whole local stack for one test or demo: moto (Secrets Manager, the DynamoDB state table,
//! the SNS topics with an SQS queue subscribed to read pages back, CloudWatch Logs) and the App
//! Runner emulator with the app's service seeded, plus SDK clients pointed at them. With
//! [`Stack::with_bankid`], probes go to a switchable BankID stand-in instead of a closed port.

use crate::bankid::BankidStandIn;
use crate::{clients, Moto};
use apprunner_emulator::{Emulator, EmulatorConfig};
use remediator_core::settings::{Mode, Settings};
use serde_json::json;
use std::time::Duration;

pub const CALLBACK: &str = "https://getdrop.no/api/auth/bankid/callback";
pub const SECRET_ID: &str = "bankid/oauth";
pub const TABLE: &str = "bankid-remediator";
pub const APP_LOG_GROUP: &str =
    "/aws/apprunner/drop-production/8f3c2a1b9d7e4f60a1b2c3d4e5f6a7b8/application";
/// The value the secret holds for `client_secret`.
pub const RIGHT_SECRET: &str = "right-secret-7f3a";

pub struct Stack {
    pub moto: Moto,
    pub emulator: Emulator,
    pub emulator_url: String,
    pub service_arn: String,
    pub topics: Topics,
    /// An SQS queue subscribed to all three topics.
    pub page_queue_url: String,
    pub bankid: Option<BankidStandIn>,
}

/// The SNS topics' ARNs.
#[derive(Debug, Clone)]
pub struct Topics {
    pub pager: String,
    pub team: String,
    pub comms: String,
}

/// A page as a subscriber received it.
#[derive(Debug, Clone)]
pub struct ReceivedPage {
    /// `pager`, `team` or `comms`.
    pub topic: String,
    pub subject: String,
    /// What SMS subscribers get.
    pub sms: String,
    /// What chat, e-mail and queue subscribers get.
    pub body: String,
}

impl Stack {
    /// Starts moto and the emulator; seeds a service whose `BANKID_CLIENT_SECRET` is
    /// `service_secret`, the BankID secret, and the state table.
    pub async fn start(service_secret: &str, operation_delay: Duration) -> Result<Stack, String> {
        let moto = Moto::start()?;
        let emulator = Emulator::new(EmulatorConfig {
            operation_delay,
            ..EmulatorConfig::default()
        });
        let addr = emulator
            .clone()
            .spawn(0)
            .await
            .map_err(|e| format!("emulator: {e}"))?;
        let seeded = emulator
            .seed_service(json!({
                "ServiceName": "drop-production",
                "SourceConfiguration": {"ImageRepository": {
                    "ImageIdentifier": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/drop:2026-12-01",
                    "ImageRepositoryType": "ECR",
                    "ImageConfiguration": {"Port": "3000", "RuntimeEnvironmentVariables": {
                        "BANKID_CLIENT_ID": "drop-prod",
                        "BANKID_CLIENT_SECRET": service_secret,
                        "BANKID_CALLBACK_URL": CALLBACK,
                        "DATABASE_URL": "postgres://db.internal:5432/drop",
                        "NEXT_PUBLIC_SERVICE_MODE": "live"},
                        "RuntimeEnvironmentSecrets": {"STRIPE_KEY": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stripe-AbCdEf"}}},
                    "AutoDeploymentsEnabled": false},
                "InstanceConfiguration": {"Cpu": "1024", "Memory": "2048", "InstanceRoleArn": "arn:aws:iam::123456789012:role/drop-instance"}
            }))
            .map_err(|e| e.message)?;
        let service_arn = seeded["Service"]["ServiceArn"]
            .as_str()
            .ok_or("the emulator answered without a ServiceArn")?
            .to_owned();
        let sns = clients::sns(&moto.endpoint);
        let sqs = clients::sqs(&moto.endpoint);
        let mut arns = Vec::new();
        for name in ["bankid-pager", "bankid-team", "bankid-comms"] {
            let topic = sns
                .create_topic()
                .name(name)
                .send()
                .await
                .map_err(|e| format!("creating topic {name}: {e:?}"))?;
            arns.push(topic.topic_arn.unwrap_or_default());
        }
        let queue = sqs
            .create_queue()
            .queue_name("bankid-pages")
            .send()
            .await
            .map_err(|e| format!("creating the page queue: {e:?}"))?;
        let page_queue_url = queue.queue_url.unwrap_or_default();
        let queue_arn = format!("arn:aws:sqs:{}:123456789012:bankid-pages", crate::REGION);
        for arn in &arns {
            sns.subscribe()
                .topic_arn(arn)
                .protocol("sqs")
                .endpoint(&queue_arn)
                .send()
                .await
                .map_err(|e| format!("subscribing the page queue: {e:?}"))?;
        }
        let stack = Stack {
            moto,
            emulator,
            emulator_url: format!("http://{addr}"),
            service_arn,
            topics: Topics {
                pager: arns[0].clone(),
                team: arns[1].clone(),
                comms: arns[2].clone(),
            },
            page_queue_url,
            bankid: None,
        };
        stack
            .secrets_client()
            .create_secret()
            .name(SECRET_ID)
            .secret_string(json!({"client_id": "drop-prod", "client_secret": RIGHT_SECRET, "callback_url": CALLBACK}).to_string())
            .send()
            .await
            .map_err(|e| format!("creating the secret: {e:?}"))?;
        clients::create_state_table(&stack.dynamodb_client(), TABLE).await?;
        // The app's log group exists before any incident, as App Runner creates it.
        stack.write_app_logs(&[], 0, 0).await?;
        Ok(stack)
    }

    /// Points the probes at a BankID stand-in on loopback (healthy until told otherwise).
    pub async fn with_bankid(mut self) -> Result<Stack, String> {
        self.bankid = Some(BankidStandIn::start(CALLBACK).await?);
        Ok(self)
    }

    /// Every page published since the last call, in order, read from the subscribed queue.
    pub async fn pages(&self) -> Result<Vec<ReceivedPage>, String> {
        let sqs = clients::sqs(&self.moto.endpoint);
        let mut pages = Vec::new();
        loop {
            let out = sqs
                .receive_message()
                .queue_url(&self.page_queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .map_err(|e| format!("ReceiveMessage: {e:?}"))?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                return Ok(pages);
            }
            for m in messages {
                let envelope: serde_json::Value =
                    serde_json::from_str(m.body.as_deref().unwrap_or_default())
                        .map_err(|e| format!("not an SNS envelope: {e}"))?;
                let topic_arn = envelope["TopicArn"].as_str().unwrap_or_default();
                let topic = ["pager", "team", "comms"]
                    .into_iter()
                    .find(|t| topic_arn.ends_with(&format!("bankid-{t}")))
                    .unwrap_or("unknown");
                let message = envelope["Message"].as_str().unwrap_or_default();
                let structured: serde_json::Value = serde_json::from_str(message).map_err(|e| {
                    format!("the queue's copy of a page is not the structured JSON: {e}")
                })?;
                pages.push(ReceivedPage {
                    topic: topic.to_owned(),
                    subject: envelope["Subject"].as_str().unwrap_or_default().to_owned(),
                    sms: structured["sms"].as_str().unwrap_or_default().to_owned(),
                    body: structured["body"].as_str().unwrap_or_default().to_owned(),
                });
                if let Some(handle) = m.receipt_handle {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&self.page_queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
        }
    }

    /// `NEXT_PUBLIC_SERVICE_MODE` in each UpdateService the emulator received, in order.
    pub fn service_modes(&self) -> Vec<String> {
        self.emulator
            .updates()
            .iter()
            .map(|u| {
                u["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"]
                    ["RuntimeEnvironmentVariables"]["NEXT_PUBLIC_SERVICE_MODE"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    pub fn apprunner_client(&self) -> aws_sdk_apprunner::Client {
        clients::apprunner(&self.emulator_url)
    }

    pub fn secrets_client(&self) -> aws_sdk_secretsmanager::Client {
        clients::secrets_manager(&self.moto.endpoint)
    }

    pub fn logs_client(&self) -> aws_sdk_cloudwatchlogs::Client {
        clients::cloudwatch_logs(&self.moto.endpoint)
    }

    /// Writes `lines` to the app's log group, `age_ms` before `now_ms`, as App Runner would.
    pub async fn write_app_logs(
        &self,
        lines: &[&str],
        now_ms: i64,
        age_ms: i64,
    ) -> Result<(), String> {
        let logs = self.logs_client();
        let _ = logs
            .create_log_group()
            .log_group_name(APP_LOG_GROUP)
            .send()
            .await;
        let _ = logs
            .create_log_stream()
            .log_group_name(APP_LOG_GROUP)
            .log_stream_name("instance/0a1b2c3d")
            .send()
            .await;
        if lines.is_empty() {
            return Ok(());
        }
        let events: Vec<_> = lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                    .timestamp(now_ms - age_ms + i as i64)
                    .message(*line)
                    .build()
                    .expect("timestamp and message are set")
            })
            .collect();
        logs.put_log_events()
            .log_group_name(APP_LOG_GROUP)
            .log_stream_name("instance/0a1b2c3d")
            .set_log_events(Some(events))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("PutLogEvents: {e:?}"))
    }

    pub fn dynamodb_client(&self) -> aws_sdk_dynamodb::Client {
        clients::dynamodb(&self.moto.endpoint)
    }

    /// The environment a deployed remediator would have for this stack.
    pub fn environment(&self, mode: Mode) -> Vec<(&'static str, String)> {
        vec![
            ("APPRUNNER_SERVICE_ARN", self.service_arn.clone()),
            ("BANKID_SECRET_ID", SECRET_ID.into()),
            ("EXPECTED_CALLBACK_URL", CALLBACK.into()),
            (
                "APP_BASE_URL",
                self.bankid
                    .as_ref()
                    .map_or_else(|| "https://getdrop.no".into(), BankidStandIn::app),
            ),
            // Probes stay on loopback: the stand-in, or port 9 where nothing listens (they fail fast).
            (
                "BANKID_ISSUER",
                self.bankid.as_ref().map_or_else(
                    || "http://127.0.0.1:9/auth/realms/prod".into(),
                    BankidStandIn::issuer,
                ),
            ),
            ("SESSION_STORE_URL", "redis://127.0.0.1:6379/0".into()),
            (
                "APP_LOG_GROUP",
                "/aws/apprunner/drop-production/8f3c2a1b9d7e4f60a1b2c3d4e5f6a7b8/application"
                    .into(),
            ),
            ("STATE_TABLE", TABLE.into()),
            ("PAGER_TOPIC_ARN", self.topics.pager.clone()),
            ("TEAM_TOPIC_ARN", self.topics.team.clone()),
            ("COMMS_TOPIC_ARN", self.topics.comms.clone()),
            (
                "ESCALATE_FUNCTION_NAME",
                "bankid-remediator-escalate".into(),
            ),
            (
                "REMEDIATOR_MODE",
                match mode {
                    Mode::Live => "live",
                    Mode::DryRun => "dry_run",
                }
                .into(),
            ),
        ]
    }

    pub fn settings(&self, mode: Mode) -> Settings {
        let env = self.environment(mode);
        Settings::from_lookup(|name| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone()))
            .expect("the stack's environment is valid")
    }
}
