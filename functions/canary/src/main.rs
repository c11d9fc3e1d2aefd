//! Cold start: tracing and the probe client once; then the loop.

use canary::Canary;
use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    remediator_adapters::logging::init();
    let canary = Canary::from_env()?;
    run(service_fn(|event: LambdaEvent<Value>| canary.handle(event))).await
}
