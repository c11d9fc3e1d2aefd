//! Incidents in the state table, next to the lock and the idempotency records.
//!
//! - `incident#<id>`: `doc` (the incident as JSON), `version`, `status`, `service`, `ttl`. Every
//!   save is conditional on the version it was read at, so two writers never overwrite each
//!   other's timeline.
//! - `incident-open#<service arn>`: `incident_id`, the one open incident of a service. Created
//!   only when absent, deleted on resolution: new signals fold into the open incident.

use crate::state::{get_item, is_conditional_failure, n, s};
use crate::AdapterError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use remediator_core::incident::Incident;
use std::collections::HashMap;

/// Incident records are kept this long after their last change (reports are read later).
const TTL_SECONDS: i64 = 90 * 24 * 3600;

#[derive(Clone)]
pub struct IncidentStore {
    client: Client,
    table: String,
}

/// The result of opening an incident.
#[derive(Debug)]
pub enum Opened {
    /// This one was stored and is now the service's open incident.
    New(Incident),
    /// Another invocation opened one first: fold into it.
    Existing(Incident),
}

impl IncidentStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        IncidentStore {
            client,
            table: table.into(),
        }
    }

    /// The service's open incident, if any.
    pub async fn open_for(&self, service_arn: &str) -> Result<Option<Incident>, AdapterError> {
        let Some(pointer) = self.get(format!("incident-open#{service_arn}")).await? else {
            return Ok(None);
        };
        let Some(id) = pointer.get("incident_id").and_then(|v| v.as_s().ok()) else {
            return Ok(None);
        };
        Ok(self.load(id).await?.filter(Incident::is_open))
    }

    pub async fn load(&self, id: &str) -> Result<Option<Incident>, AdapterError> {
        let Some(item) = self.get(format!("incident#{id}")).await? else {
            return Ok(None);
        };
        let doc = item
            .get("doc")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| AdapterError::Permanent(format!("incident {id} has no document")))?;
        let mut incident: Incident = serde_json::from_str(doc).map_err(|e| {
            AdapterError::Permanent(format!(
                "incident {id} is unreadable at line {} column {}",
                e.line(),
                e.column()
            ))
        })?;
        incident.version = item
            .get("version")
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        Ok(Some(incident))
    }

    /// Stores `incident` as the service's open incident unless one is open already.
    pub async fn open(&self, mut incident: Incident) -> Result<Opened, AdapterError> {
        if let Some(existing) = self.open_for(&incident.service_arn).await? {
            return Ok(Opened::Existing(existing));
        }
        // The record first: a crash before the pointer leaves an orphan that expires, never a
        // pointer to nothing.
        incident.version = 0;
        self.put(&incident, None)
            .await?
            .then_some(())
            .ok_or_else(|| {
                AdapterError::Retryable(format!("incident id {} is taken", incident.id))
            })?;
        incident.version = 1;
        let pointer = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("incident-open#{}", incident.service_arn)))
            .item("incident_id", s(&incident.id))
            .item("ttl", n(incident.opened_ms / 1000 + TTL_SECONDS))
            .condition_expression("attribute_not_exists(pk) OR incident_id = :stale")
            .expression_attribute_values(":stale", s(self.stale_pointer(&incident).await?))
            .send()
            .await;
        match pointer {
            Ok(_) => Ok(Opened::New(incident)),
            Err(e) if is_conditional_failure(&e) => {
                let _ = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", s(format!("incident#{}", incident.id)))
                    .send()
                    .await;
                match self.open_for(&incident.service_arn).await? {
                    Some(existing) => Ok(Opened::Existing(existing)),
                    None => Err(AdapterError::Retryable(
                        "another invocation is opening an incident".into(),
                    )),
                }
            }
            Err(e) => Err(AdapterError::from_sdk(
                "DynamoDB PutItem (open incident)",
                e,
            )),
        }
    }

    /// The id a pointer may hold and still be replaced: one whose incident is resolved or gone.
    async fn stale_pointer(&self, incident: &Incident) -> Result<String, AdapterError> {
        let pointer = self
            .get(format!("incident-open#{}", incident.service_arn))
            .await?;
        Ok(pointer
            .and_then(|p| p.get("incident_id").and_then(|v| v.as_s().ok()).cloned())
            .unwrap_or_default())
    }

    /// Saves a changed incident if nobody saved since it was read. `Ok(false)`: someone did;
    /// read it again and reapply.
    pub async fn save(&self, incident: &mut Incident) -> Result<bool, AdapterError> {
        let expected = incident.version;
        if !self.put(incident, Some(expected)).await? {
            return Ok(false);
        }
        incident.version = expected + 1;
        if !incident.is_open() {
            let _ = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(format!("incident-open#{}", incident.service_arn)))
                .condition_expression("incident_id = :id")
                .expression_attribute_values(":id", s(&incident.id))
                .send()
                .await;
        }
        Ok(true)
    }

    async fn put(&self, incident: &Incident, expected: Option<u64>) -> Result<bool, AdapterError> {
        let doc = serde_json::to_string(incident)
            .map_err(|e| AdapterError::Permanent(format!("incident {}: {e}", incident.id)))?;
        let last_change = incident
            .timeline
            .last()
            .map_or(incident.opened_ms, |e| e.at_ms);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("incident#{}", incident.id)))
            .item("doc", s(doc))
            .item("version", n(expected.map_or(1, |v| v as i64 + 1)))
            .item("status", s(incident.status.id()))
            .item("service", s(&incident.service_arn))
            .item("ttl", n(last_change / 1000 + TTL_SECONDS));
        let put = match expected {
            None => put.condition_expression("attribute_not_exists(pk)"),
            Some(v) => put
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v as i64)),
        };
        match put.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(AdapterError::from_sdk("DynamoDB PutItem (incident)", e)),
        }
    }

    async fn get(
        &self,
        pk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, AdapterError> {
        get_item(&self.client, &self.table, pk, "DynamoDB GetItem (incident)").await
    }
}
