//! Adapters: one narrow port per AWS capability, each owning its client and its one resource.
//!
//! - [`apprunner`]: DescribeService, the merged UpdateService, StartDeployment, ListOperations,
//!   for the configured service only.
//! - [`logging`]: the functions' log subscriber, with the SDK's body-logging levels capped.
//! - [`logs`]: the app's recent BankID lines from CloudWatch Logs, for alarms that carry none.
//! - [`probes`]: BankID discovery and JWKS, the app's initiate redirect, and DNS/TCP/TLS/HTTP.
//! - [`secrets`]: the BankID OAuth secret, into `SecretString`s.
//! - [`engine`]: the configuration check, plan, policy and effects for one signal, under the
//!   service's lease lock and the signal's idempotency key.
//! - [`sessions`]: stale BankID state purged from Redis, PostgreSQL or SQLite; never a flush.
//! - [`state`]: DynamoDB idempotency records, the per-service lease lock, the deploy history.
//! - [`incidents`]: incident records and each service's open-incident pointer, version-checked.
//! - [`pager`]: SNS pages (an SMS text and a full body in one message).
//! - [`followup`]: the incident desk: folding signals in, follow-up ticks (operation, fallback,
//!   verification, the ladder), and the manual actions.
//!
//! Errors say whether trying again can help ([`AdapterError::Retryable`]: throttling, 5xx,
//! timeouts, connection failures) or not ([`AdapterError::Permanent`]).

pub mod apprunner;
pub mod engine;
pub mod followup;
pub mod incidents;
pub mod logging;
pub mod logs;
pub mod pager;
pub mod probes;
pub mod secrets;
pub mod sessions;
pub mod state;

use aws_sdk_apprunner::config::http::HttpResponse;
use aws_sdk_apprunner::error::{ProvideErrorMetadata, SdkError};

/// Timeouts for every AWS call, so a dependency that hangs becomes a retryable error well inside
/// the Lambda timeout and the lease, instead of an invocation that never answers.
pub fn sdk_timeouts() -> aws_sdk_dynamodb::config::timeout::TimeoutConfig {
    aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(2))
        .operation_attempt_timeout(std::time::Duration::from_secs(4))
        .operation_timeout(std::time::Duration::from_secs(10))
        .build()
}

/// Builds every adapter from one loaded SDK configuration (region, credentials, and the
/// `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` endpoints) and the checked settings.
pub fn from_sdk_config(
    settings: remediator_core::settings::Settings,
    sdk: &aws_types::SdkConfig,
) -> engine::Remediator {
    let apprunner = apprunner::AppRunner::new(
        aws_sdk_apprunner::Client::new(sdk),
        settings.apprunner_service_arn.clone(),
    );
    let secrets = secrets::Secrets::new(
        aws_sdk_secretsmanager::Client::new(sdk),
        settings.bankid_secret_id.clone(),
    );
    let state = state::StateStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        settings.state_table.clone(),
    );
    let logs = logs::AppLogs::new(
        aws_sdk_cloudwatchlogs::Client::new(sdk),
        settings.app_log_group.clone(),
    );
    engine::Remediator::new(settings, apprunner, secrets, state).with_logs(logs)
}

/// The incident desk over the remediator built by [`from_sdk_config`].
pub fn desk_from_sdk_config(
    remediator: engine::Remediator,
    sdk: &aws_types::SdkConfig,
) -> followup::Desk {
    let settings = remediator.settings();
    let incidents = incidents::IncidentStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        settings.state_table.clone(),
    );
    let escalation = &settings.escalation;
    let pager = pager::Pager::new(
        aws_sdk_sns::Client::new(sdk),
        pager::Topics {
            pager: escalation.pager_topic_arn.clone(),
            team: escalation.team_topic_arn.clone(),
            comms: escalation.comms_topic_arn.clone(),
        },
    );
    followup::Desk::new(remediator, incidents, pager)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdapterError {
    #[error("{0} (retryable)")]
    Retryable(String),
    #[error("{0}")]
    Permanent(String),
}

impl AdapterError {
    pub fn retryable(&self) -> bool {
        matches!(self, AdapterError::Retryable(_))
    }

    /// Classifies an SDK error; `what` names the call ("App Runner UpdateService").
    pub fn from_sdk<E>(what: &str, err: SdkError<E, HttpResponse>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        match &err {
            SdkError::TimeoutError(_) => AdapterError::Retryable(format!("{what}: timed out")),
            SdkError::DispatchFailure(_) => {
                AdapterError::Retryable(format!("{what}: could not reach the endpoint"))
            }
            SdkError::ResponseError(_) => {
                AdapterError::Retryable(format!("{what}: unreadable response (HTTP {status:?})"))
            }
            SdkError::ServiceError(service) => {
                let e = service.err();
                let code = e.code().unwrap_or("Unknown");
                let message = e.message().unwrap_or("");
                let text = format!("{what}: {code}: {message}");
                let throttled = code.contains("Throttl") || code == "TooManyRequestsException";
                if throttled || status.is_some_and(|s| s >= 500) {
                    AdapterError::Retryable(text)
                } else {
                    AdapterError::Permanent(text)
                }
            }
            _ => AdapterError::Permanent(format!("{what}: the request could not be built")),
        }
    }
}
