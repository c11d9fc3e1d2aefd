//! App Runner: read the service's BankID settings, and change them without touching anything else.
//!
//! An update is a read-modify-write of the whole source configuration: DescribeService, set the
//! corrected `BANKID_*` values in the existing runtime environment map, send the full
//! `SourceConfiguration` back. Every other variable, every secret reference, the image, the port,
//! the start command and the access role go back exactly as read. Nothing else (instance role,
//! CPU, memory, network, health check) is sent at all. App Runner replaces the whole map it is
//! given, so a partial map would wipe the rest: that is the runbook's own bug, avoided here.

use crate::AdapterError;
use aws_sdk_apprunner::error::ProvideErrorMetadata;
use aws_sdk_apprunner::types::{OperationStatus, ServiceStatus, SourceConfiguration};
use aws_sdk_apprunner::Client;
use remediator_core::remedy::{
    ServiceSettings, Setting, CALLBACK_URL_VAR, CLIENT_ID_VAR, CLIENT_SECRET_VAR,
};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;

/// The one App Runner service the remediator is allowed to touch.
#[derive(Clone)]
pub struct AppRunner {
    client: Client,
    service_arn: String,
}

/// What DescribeService said, reduced to what the remediator needs.
pub struct ServiceView {
    pub status: ServiceStatus,
    pub settings: ServiceSettings,
    source: SourceConfiguration,
}

/// How a change request ended.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ChangeOutcome {
    /// App Runner accepted it; the operation runs.
    Started { operation_id: String },
    /// An operation is already running (`InvalidStateException`): try again on a later tick.
    Deferred { reason: String },
}

/// An App Runner operation, as ListOperations reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OperationState {
    pub id: String,
    pub kind: String,
    pub status: String,
}

impl OperationState {
    pub fn finished(&self) -> bool {
        !matches!(
            self.status.as_str(),
            "PENDING" | "IN_PROGRESS" | "ROLLBACK_IN_PROGRESS"
        )
    }
    pub fn succeeded(&self) -> bool {
        self.status == OperationStatus::Succeeded.as_str()
    }
}

impl AppRunner {
    pub fn new(client: Client, service_arn: impl Into<String>) -> Self {
        AppRunner {
            client,
            service_arn: service_arn.into(),
        }
    }

    pub fn service_arn(&self) -> &str {
        &self.service_arn
    }

    pub async fn describe(&self) -> Result<ServiceView, AdapterError> {
        let out = self
            .client
            .describe_service()
            .service_arn(&self.service_arn)
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("App Runner DescribeService", e))?;
        let service = out.service.ok_or_else(|| {
            AdapterError::Permanent("App Runner DescribeService answered without a Service".into())
        })?;
        let source = service.source_configuration.ok_or_else(|| {
            AdapterError::Permanent("the App Runner service has no SourceConfiguration".into())
        })?;
        let (vars, secrets) = runtime_maps(&source)?;
        let setting = |name: &str| match (vars.get(name), secrets.get(name)) {
            (_, Some(reference)) => Setting::SecretReference(reference.clone()),
            (Some(value), None) => Setting::Variable(SecretString::from(value.clone())),
            (None, None) => Setting::Missing,
        };
        Ok(ServiceView {
            status: service.status,
            settings: ServiceSettings {
                client_id: setting(CLIENT_ID_VAR),
                client_secret: setting(CLIENT_SECRET_VAR),
                callback_url: setting(CALLBACK_URL_VAR),
            },
            source,
        })
    }

    /// Sets `values` in the runtime environment map of `view` (a fresh DescribeService) and sends
    /// the whole source configuration back.
    pub async fn update_environment(
        &self,
        view: &ServiceView,
        values: &[(&'static str, &SecretString)],
    ) -> Result<ChangeOutcome, AdapterError> {
        let source = with_variables(&view.source, values)?;
        let result = self
            .client
            .update_service()
            .service_arn(&self.service_arn)
            .source_configuration(source)
            .send()
            .await;
        change_outcome(
            "App Runner UpdateService",
            result.map(|out| out.operation_id),
        )
    }

    /// A new deployment, so `RuntimeEnvironmentSecrets` references are read again.
    pub async fn start_deployment(&self) -> Result<ChangeOutcome, AdapterError> {
        let result = self
            .client
            .start_deployment()
            .service_arn(&self.service_arn)
            .send()
            .await;
        change_outcome(
            "App Runner StartDeployment",
            result.map(|out| out.operation_id),
        )
    }

    /// The operation with this id, from the newest page of ListOperations.
    pub async fn operation(
        &self,
        operation_id: &str,
    ) -> Result<Option<OperationState>, AdapterError> {
        Ok(self
            .operations(20)
            .await?
            .into_iter()
            .find(|op| op.id == operation_id))
    }

    /// The service's most recently started operation (App Runner lists newest first).
    pub async fn latest_operation(&self) -> Result<Option<OperationState>, AdapterError> {
        Ok(self.operations(1).await?.into_iter().next())
    }

    async fn operations(&self, max: i32) -> Result<Vec<OperationState>, AdapterError> {
        let out = self
            .client
            .list_operations()
            .service_arn(&self.service_arn)
            .max_results(max)
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("App Runner ListOperations", e))?;
        Ok(out
            .operation_summary_list
            .unwrap_or_default()
            .into_iter()
            .map(|op| OperationState {
                id: op.id.unwrap_or_default(),
                kind: op.r#type.map(|t| t.as_str().to_owned()).unwrap_or_default(),
                status: op.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
            })
            .collect())
    }
}

/// An accepted change starts an operation; `InvalidStateException` (one is already running)
/// defers it; anything else is an error.
fn change_outcome<E>(
    what: &str,
    result: Result<
        String,
        aws_sdk_apprunner::error::SdkError<E, aws_sdk_apprunner::config::http::HttpResponse>,
    >,
) -> Result<ChangeOutcome, AdapterError>
where
    E: ProvideErrorMetadata + std::error::Error,
{
    match result {
        Ok(operation_id) => Ok(ChangeOutcome::Started { operation_id }),
        Err(e) if e.code() == Some("InvalidStateException") => Ok(ChangeOutcome::Deferred {
            reason: e
                .message()
                .unwrap_or("an operation is in progress")
                .to_owned(),
        }),
        Err(e) => Err(AdapterError::from_sdk(what, e)),
    }
}

type Maps = (HashMap<String, String>, HashMap<String, String>);

/// The runtime environment variables and secret references, wherever the source keeps them.
fn runtime_maps(source: &SourceConfiguration) -> Result<Maps, AdapterError> {
    if let Some(image) = &source.image_repository {
        let config = image.image_configuration.as_ref();
        return Ok((
            config
                .and_then(|c| c.runtime_environment_variables.clone())
                .unwrap_or_default(),
            config
                .and_then(|c| c.runtime_environment_secrets.clone())
                .unwrap_or_default(),
        ));
    }
    if let Some(code) = &source.code_repository {
        let values = code
            .code_configuration
            .as_ref()
            .and_then(|c| c.code_configuration_values.as_ref());
        return Ok((
            values
                .and_then(|v| v.runtime_environment_variables.clone())
                .unwrap_or_default(),
            values
                .and_then(|v| v.runtime_environment_secrets.clone())
                .unwrap_or_default(),
        ));
    }
    Err(AdapterError::Permanent(
        "the service's SourceConfiguration has neither ImageRepository nor CodeRepository".into(),
    ))
}

/// `source` with `values` set in its runtime environment map; everything else as it was.
fn with_variables(
    source: &SourceConfiguration,
    values: &[(&'static str, &SecretString)],
) -> Result<SourceConfiguration, AdapterError> {
    let mut source = source.clone();
    let set = |vars: &mut Option<HashMap<String, String>>| {
        let map = vars.get_or_insert_with(HashMap::new);
        for (name, value) in values {
            map.insert((*name).to_owned(), value.expose_secret().to_owned());
        }
    };
    if let Some(image) = source.image_repository.as_mut() {
        let config = image
            .image_configuration
            .get_or_insert_with(|| aws_sdk_apprunner::types::ImageConfiguration::builder().build());
        if let Some(secrets) = &config.runtime_environment_secrets {
            if let Some((name, _)) = values.iter().find(|(n, _)| secrets.contains_key(*n)) {
                return Err(AdapterError::Permanent(format!(
                    "{name} comes from a Secrets Manager reference; setting it as a variable too would shadow the reference"
                )));
            }
        }
        set(&mut config.runtime_environment_variables);
        return Ok(source);
    }
    if let Some(code) = source.code_repository.as_mut() {
        let configuration = code.code_configuration.as_mut().ok_or_else(|| {
            AdapterError::Permanent("the code repository has no CodeConfiguration".into())
        })?;
        let values_block = configuration.code_configuration_values.as_mut().ok_or_else(|| {
            AdapterError::Permanent(
                "the service takes its configuration from apprunner.yaml in the repository: fix it there".into(),
            )
        })?;
        set(&mut values_block.runtime_environment_variables);
        return Ok(source);
    }
    Err(AdapterError::Permanent(
        "the service's SourceConfiguration has neither ImageRepository nor CodeRepository".into(),
    ))
}
