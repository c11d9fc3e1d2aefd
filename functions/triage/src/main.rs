//! Cold start: tracing, configuration, SDK clients and the compiled rules once; then the loop.

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;
use triage::Triage;

#[tokio::main]
async fn main() -> Result<(), Error> {
    remediator_adapters::logging::init();
    let triage = Triage::from_env().await?;
    run(service_fn(|event: LambdaEvent<Value>| triage.handle(event))).await
}
