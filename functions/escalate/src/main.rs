//! Cold start: tracing, configuration and SDK clients once; then the loop.

use escalate::Escalate;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    remediator_adapters::logging::init();
    let escalate = Escalate::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| {
        escalate.handle(event)
    }))
    .await
}
