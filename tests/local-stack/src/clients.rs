//! SDK clients pointed at a local stand-in, with the fake credentials and region it accepts.

use crate::{ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

fn credentials() -> aws_sdk_dynamodb::config::Credentials {
    aws_sdk_dynamodb::config::Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        None,
        None,
        "local-stack",
    )
}

/// One builder for every service crate: they share the config types' shape, not the types.
macro_rules! local_client {
    ($name:ident, $sdk:ident) => {
        pub fn $name(endpoint: &str) -> $sdk::Client {
            $sdk::Client::from_conf(
                $sdk::Config::builder()
                    .behavior_version($sdk::config::BehaviorVersion::latest())
                    .region($sdk::config::Region::new(REGION))
                    .credentials_provider(credentials())
                    .endpoint_url(endpoint)
                    .build(),
            )
        }
    };
}

local_client!(apprunner, aws_sdk_apprunner);
local_client!(secrets_manager, aws_sdk_secretsmanager);
local_client!(dynamodb, aws_sdk_dynamodb);
local_client!(cloudwatch_logs, aws_sdk_cloudwatchlogs);
local_client!(sns, aws_sdk_sns);
local_client!(sqs, aws_sdk_sqs);

/// Creates the remediator's state table as the infrastructure declares it: key `pk` (string).
pub async fn create_state_table(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<(), String> {
    let key = KeySchemaElement::builder()
        .attribute_name("pk")
        .key_type(KeyType::Hash)
        .build()
        .map_err(|e| e.to_string())?;
    let attribute = AttributeDefinition::builder()
        .attribute_name("pk")
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(|e| e.to_string())?;
    client
        .create_table()
        .table_name(table)
        .key_schema(key)
        .attribute_definitions(attribute)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("creating the table: {e:?}"))
}
