//! SDK error paths moto cannot produce (5xx, throttling), with aws-smithy-mocks: each classified
//! retryable after the SDK's own retries, so Lambda redelivers instead of giving up.

use aws_smithy_mocks::{mock, mock_client};
use remediator_adapters::secrets::Secrets;
use remediator_adapters::state::StateStore;

#[tokio::test]
async fn a_secrets_manager_5xx_is_retryable() {
    let rule = mock!(aws_sdk_secretsmanager::Client::get_secret_value)
        .sequence()
        .http_status(503, None)
        .times(5)
        .build();
    let client = mock_client!(aws_sdk_secretsmanager, [&rule]);
    let e = Secrets::new(client, "bankid/oauth")
        .bankid()
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
    assert!(rule.num_calls() >= 1);
}

#[tokio::test]
async fn a_dynamodb_5xx_is_retryable() {
    let failing = mock!(aws_sdk_dynamodb::Client::get_item)
        .sequence()
        .http_status(500, None)
        .times(5)
        .build();
    let client = mock_client!(aws_sdk_dynamodb, [&failing]);
    let store = StateStore::new(client, "bankid-remediator");
    let e = store.handled("logs:x").await.unwrap_err();
    assert!(e.retryable(), "{e}");
}
