//! Cold start: tracing, configuration and SDK clients once; then the loop.

use escalate::Escalate;
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let escalate = Escalate::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| {
        escalate.handle(event)
    }))
    .await
}
