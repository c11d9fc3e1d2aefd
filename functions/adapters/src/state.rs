//! DynamoDB state: idempotency records, a per-service lease lock, and the deploy history the
//! policy reads. Every write is conditional, every record carries a TTL.
//!
//! One table, key `pk` (string), TTL attribute `ttl` (epoch seconds). Record kinds:
//! - `lock#<service arn>`: `owner`, `expires_ms`. Taken when absent or expired, released by its owner.
//! - `idem#<key>`: `state` (`done`), `result` (JSON). Written once per signal.
//! - `history#<service arn>`: `incident_started_ms`, `incident_deploys`, `last_deploy_ms`,
//!   `failed_actions` (string set).
//! - `deploys#<service arn>#<yyyy-mm-dd>`: `count` of App Runner changes that day (UTC).
//! - `intent#<service arn>`: `intent` (JSON [`Intent`]), `signal` (its key): an App Runner change about to be sent,
//!   written before it is and removed once the signal is settled.

use crate::AdapterError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use remediator_core::remedy::History;
use std::collections::HashMap;

/// Records live this long after their last write.
const TTL_SECONDS: i64 = 14 * 24 * 3600;

#[derive(Clone)]
pub struct StateStore {
    client: Client,
    table: String,
}

/// An App Runner change about to be sent for the signal `key`. Written before the call, so an
/// invocation that dies between the call and the records after it leaves a trace: the next
/// delivery finds the operation the change started and adopts it instead of guessing again.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Intent {
    pub key: String,
    /// [`remediator_core::remedy::Action::key`] of the change.
    pub action: String,
    pub reason: String,
    /// The service's newest operation before the change: a newer one is the change's.
    pub previous_operation: Option<String>,
    pub at_ms: i64,
}

/// The result of trying to take the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lease {
    Acquired,
    HeldByAnother,
}

impl StateStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        StateStore {
            client,
            table: table.into(),
        }
    }

    /// Takes the service's lock for `lease_ms` unless someone else holds an unexpired one.
    pub async fn acquire(
        &self,
        service_arn: &str,
        owner: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Lease, AdapterError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("lock#{service_arn}")))
            .item("owner", s(owner))
            .item("expires_ms", n(now_ms + lease_ms))
            .item("ttl", n(now_ms / 1000 + TTL_SECONDS))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_ms < :now OR #owner = :owner",
            )
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Lease::Acquired),
            Err(e) if is_conditional_failure(&e) => Ok(Lease::HeldByAnother),
            Err(e) => Err(AdapterError::from_sdk("DynamoDB PutItem (lock)", e)),
        }
    }

    /// Releases the lock if `owner` still holds it.
    pub async fn release(&self, service_arn: &str, owner: &str) -> Result<(), AdapterError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("lock#{service_arn}")))
            .condition_expression("#owner = :owner")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":owner", s(owner))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Expired and taken by another: nothing of ours to release.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(AdapterError::from_sdk("DynamoDB DeleteItem (lock)", e)),
        }
    }

    /// Records the change about to be sent (one at a time per service: the lock is held).
    pub async fn put_intent(
        &self,
        service_arn: &str,
        intent: &Intent,
        now_ms: i64,
    ) -> Result<(), AdapterError> {
        let text = serde_json::to_string(intent)
            .map_err(|e| AdapterError::Permanent(format!("intent record: {e}")))?;
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("intent#{service_arn}")))
            .item("intent", s(text))
            .item("signal", s(&intent.key))
            .item("ttl", n(now_ms / 1000 + TTL_SECONDS))
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("DynamoDB PutItem (intent)", e))?;
        Ok(())
    }

    /// The change recorded by [`StateStore::put_intent`] and not yet settled, if any.
    pub async fn intent(&self, service_arn: &str) -> Result<Option<Intent>, AdapterError> {
        let item = self.get(format!("intent#{service_arn}")).await?;
        item.and_then(|i| i.get("intent").and_then(|v| v.as_s().ok()).cloned())
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| AdapterError::Permanent(format!("unreadable intent record: {e}")))
            })
            .transpose()
    }

    /// Removes the intent if it is still the one written for `key`.
    pub async fn clear_intent(&self, service_arn: &str, key: &str) -> Result<(), AdapterError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(format!("intent#{service_arn}")))
            .condition_expression("#signal = :key")
            .expression_attribute_names("#signal", "signal")
            .expression_attribute_values(":key", s(key))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Gone already, or another signal's by now: not ours to remove.
            Err(e) if is_conditional_failure(&e) => Ok(()),
            Err(e) => Err(AdapterError::from_sdk("DynamoDB DeleteItem (intent)", e)),
        }
    }

    /// The recorded result of a signal already handled, if any.
    pub async fn handled(&self, key: &str) -> Result<Option<serde_json::Value>, AdapterError> {
        let item = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(format!("idem#{key}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("DynamoDB GetItem (idempotency)", e))?
            .item;
        Ok(item.and_then(|i| {
            i.get("result")
                .and_then(|v| v.as_s().ok())
                .and_then(|text| serde_json::from_str(text).ok())
        }))
    }

    /// Records that `key` was handled, once: a second record for the same key is refused.
    pub async fn record_handled(
        &self,
        key: &str,
        result: &serde_json::Value,
        now_ms: i64,
    ) -> Result<bool, AdapterError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("pk", s(format!("idem#{key}")))
            .item("state", s("done"))
            .item("result", s(result.to_string()))
            .item("at_ms", n(now_ms))
            .item("ttl", n(now_ms / 1000 + TTL_SECONDS))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(true),
            Err(e) if is_conditional_failure(&e) => Ok(false),
            Err(e) => Err(AdapterError::from_sdk("DynamoDB PutItem (idempotency)", e)),
        }
    }

    /// What the policy needs to know. An incident older than `incident_window_ms` is forgotten.
    pub async fn history(
        &self,
        service_arn: &str,
        now_ms: i64,
        incident_window_ms: i64,
    ) -> Result<History, AdapterError> {
        let item = self.get(format!("history#{service_arn}")).await?;
        let day = self
            .get(format!("deploys#{service_arn}#{}", day_of(now_ms)))
            .await?;
        let mut history = History {
            deploys_today: day.as_ref().and_then(|d| number(d, "count")).unwrap_or(0) as u32,
            ..History::default()
        };
        if let Some(item) = item {
            history.last_deploy_ms = number(&item, "last_deploy_ms");
            let started = number(&item, "incident_started_ms").unwrap_or(0);
            if now_ms - started <= incident_window_ms {
                history.deploys_this_incident =
                    number(&item, "incident_deploys").unwrap_or(0) as u32;
                history.failed_actions = item
                    .get("failed_actions")
                    .and_then(|v| v.as_ss().ok())
                    .cloned()
                    .unwrap_or_default();
            }
        }
        Ok(history)
    }

    /// Counts one App Runner change: today's counter, the incident's, and the time of it.
    pub async fn record_deploy(
        &self,
        service_arn: &str,
        now_ms: i64,
        incident_window_ms: i64,
    ) -> Result<(), AdapterError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("deploys#{service_arn}#{}", day_of(now_ms))))
            .update_expression("ADD #count :one SET #ttl = :ttl")
            .expression_attribute_names("#count", "count")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":ttl", n(now_ms / 1000 + TTL_SECONDS))
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("DynamoDB UpdateItem (day counter)", e))?;
        let (started, deploys) = match self.get(format!("history#{service_arn}")).await? {
            Some(item) => {
                let started = number(&item, "incident_started_ms").unwrap_or(now_ms);
                if now_ms - started <= incident_window_ms {
                    (started, number(&item, "incident_deploys").unwrap_or(0) + 1)
                } else {
                    (now_ms, 1)
                }
            }
            None => (now_ms, 1),
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("history#{service_arn}")))
            .update_expression("SET incident_started_ms = :started, incident_deploys = :deploys, last_deploy_ms = :now, #ttl = :ttl")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":started", n(started))
            .expression_attribute_values(":deploys", n(deploys))
            .expression_attribute_values(":now", n(now_ms))
            .expression_attribute_values(":ttl", n(now_ms / 1000 + TTL_SECONDS))
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("DynamoDB UpdateItem (history)", e))?;
        Ok(())
    }

    /// Remembers that an action ran without leading to recovery, so it is not repeated.
    pub async fn record_failed_action(
        &self,
        service_arn: &str,
        action_key: &str,
        now_ms: i64,
    ) -> Result<(), AdapterError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("history#{service_arn}")))
            .update_expression("ADD failed_actions :key SET #ttl = :ttl, incident_started_ms = if_not_exists(incident_started_ms, :now)")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":key", AttributeValue::Ss(vec![action_key.to_owned()]))
            .expression_attribute_values(":ttl", n(now_ms / 1000 + TTL_SECONDS))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("DynamoDB UpdateItem (failed action)", e))?;
        Ok(())
    }

    async fn get(
        &self,
        pk: String,
    ) -> Result<Option<HashMap<String, AttributeValue>>, AdapterError> {
        get_item(&self.client, &self.table, pk, "DynamoDB GetItem").await
    }
}

/// One record by key, read consistently (every reader here decides on what it reads).
pub(crate) async fn get_item(
    client: &Client,
    table: &str,
    pk: String,
    what: &str,
) -> Result<Option<HashMap<String, AttributeValue>>, AdapterError> {
    Ok(client
        .get_item()
        .table_name(table)
        .key("pk", s(pk))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| AdapterError::from_sdk(what, e))?
        .item)
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn day_of(now_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now_ms)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "1970-01-01".into())
}

pub(crate) fn is_conditional_failure<E, R>(e: &aws_sdk_dynamodb::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}
