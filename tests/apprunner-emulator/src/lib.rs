//! A small, faithful App Runner emulator for tests and the demo (no emulator exists elsewhere).
//!
//! It speaks App Runner's real wire protocol, AWS JSON 1.0: `POST /` with
//! `X-Amz-Target: AppRunner.<Operation>`, JSON bodies, errors as `{"__type", "Message"}` with the
//! `x-amzn-ErrorType` header, timestamps as epoch seconds. Operations: `DescribeService`,
//! `UpdateService`, `StartDeployment`, `ListOperations`.
//!
//! Behaviour kept from the real service:
//! - an update or deployment moves the service to `OPERATION_IN_PROGRESS` and starts an operation
//!   `IN_PROGRESS`; after the operation delay it ends `SUCCEEDED` (or, when told, `FAILED` or
//!   `ROLLBACK_SUCCEEDED`, which put the previous configuration back) and the service is `RUNNING`;
//! - an update or deployment while an operation runs is refused with `InvalidStateException`;
//! - `UpdateService` replaces the whole `SourceConfiguration` it is given: a partial
//!   `RuntimeEnvironmentVariables` map wipes the variables it leaves out, as the runbook learnt.
//!
//! Control endpoints (not App Runner's) under `/_emulator/`:
//! - `POST /_emulator/services`: seed a service from `{"ServiceName", "SourceConfiguration", …}`;
//!   answers the `Service`.
//! - `GET /_emulator/requests`: every App Runner request received, in order.
//! - `POST /_emulator/outcomes`: `{"ServiceArn", "Outcome": "FAILED"|"ROLLBACK_SUCCEEDED"|"SUCCEEDED",
//!   "DelayMs"?}` decides the service's next operation.
//! - `POST /_emulator/faults`: `{"Target": "UpdateService", "Status": 500|400, "Type", "Count"}`
//!   makes the next `Count` calls of that operation fail (throttling, 5xx); with `"DelayMs"` and no
//!   `Status` they succeed but answer only after the delay (a slow response, a window in which a
//!   test can break something else).
//! - `POST /_emulator/reset`: forget everything.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// How the emulator names things and how long operations take.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub region: String,
    pub account: String,
    pub operation_delay: Duration,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            region: "eu-west-1".into(),
            account: "123456789012".into(),
            operation_delay: Duration::from_millis(500),
        }
    }
}

/// An App Runner error as the wire carries it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: u16,
    pub kind: String,
    pub message: String,
}

impl ApiError {
    fn new(status: u16, kind: &str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind: kind.into(),
            message: message.into(),
        }
    }
    fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::new(400, "InvalidRequestException", message)
    }
    fn not_found(arn: &str) -> Self {
        ApiError::new(
            400,
            "ResourceNotFoundException",
            format!("Service {arn} not found"),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Succeeded,
    Failed,
    RollbackSucceeded,
}

impl Outcome {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "SUCCEEDED" => Some(Outcome::Succeeded),
            "FAILED" => Some(Outcome::Failed),
            "ROLLBACK_SUCCEEDED" => Some(Outcome::RollbackSucceeded),
            _ => None,
        }
    }
    fn status(self) -> &'static str {
        match self {
            Outcome::Succeeded => "SUCCEEDED",
            Outcome::Failed => "FAILED",
            Outcome::RollbackSucceeded => "ROLLBACK_SUCCEEDED",
        }
    }
}

#[derive(Debug, Clone)]
struct Operation {
    id: String,
    kind: &'static str,
    status: &'static str,
    started_at: f64,
    ends_at: f64,
    ended_at: Option<f64>,
    outcome: Outcome,
    /// The service as it was before, put back when the operation fails or rolls back.
    previous: Value,
}

#[derive(Debug)]
struct ServiceRecord {
    service: Value,
    operations: Vec<Operation>,
    planned: VecDeque<(Outcome, Option<Duration>)>,
}

#[derive(Debug)]
struct Fault {
    target: String,
    /// `None`: the call succeeds, `delay` late.
    status: Option<u16>,
    kind: String,
    delay: Duration,
    remaining: u32,
}

#[derive(Debug, Default)]
struct State {
    services: Vec<ServiceRecord>,
    requests: Vec<Value>,
    /// Reads (DescribeService, ListOperations) are not kept: a long load run's memory is then
    /// the code's under test, not this log's.
    forget_reads: bool,
    faults: Vec<Fault>,
    counter: u64,
}

/// The emulator's state, shared by every connection.
#[derive(Clone)]
pub struct Emulator {
    config: Arc<EmulatorConfig>,
    state: Arc<Mutex<State>>,
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| (d.as_millis() as f64) / 1000.0)
}

impl Emulator {
    pub fn new(config: EmulatorConfig) -> Self {
        Emulator {
            config: Arc::new(config),
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock would be a bug in the emulator; keep serving regardless.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Serves until the listener fails. Bind to loopback.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let emulator = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let emulator = emulator.clone();
                    async move { Ok::<_, std::convert::Infallible>(emulator.route(req).await) }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                // A client hanging up mid-request is its business, not the emulator's.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    }

    /// Binds `127.0.0.1:port` (0 for any free port) and serves in the background.
    pub async fn spawn(self, port: u16) -> std::io::Result<std::net::SocketAddr> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        tokio::spawn(self.serve(listener));
        Ok(addr)
    }

    async fn route(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let target = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = match req.into_body().collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => return error_response(&ApiError::invalid_request(format!("body: {e}"))),
        };
        let parsed: Result<Value, ApiError> = if body.is_empty() {
            Ok(json!({}))
        } else {
            serde_json::from_slice(&body)
                .map_err(|e| ApiError::new(400, "SerializationException", e.to_string()))
        };
        let result = match (method, path.as_str(), target) {
            (Method::POST, "/", Some(target)) => {
                let result = parsed.and_then(|body| self.call(&target, body));
                let delay = self.take_delay(target.strip_prefix("AppRunner.").unwrap_or(&target));
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                result
            }
            (Method::POST, "/", None) => Err(ApiError::new(
                400,
                "UnknownOperationException",
                "missing X-Amz-Target",
            )),
            (Method::POST, "/_emulator/services", _) => parsed.and_then(|b| self.seed(b)),
            (Method::GET, "/_emulator/requests", _) => Ok(json!(self.lock().requests)),
            (Method::POST, "/_emulator/outcomes", _) => parsed.and_then(|b| self.plan_outcome(b)),
            (Method::POST, "/_emulator/faults", _) => parsed.and_then(|b| self.add_fault(b)),
            (Method::POST, "/_emulator/reset", _) => {
                *self.lock() = State::default();
                Ok(json!({}))
            }
            (_, path, _) => Err(ApiError::new(404, "NotFound", format!("no route {path}"))),
        };
        match result {
            Ok(value) => json_response(200, &value),
            Err(e) => error_response(&e),
        }
    }

    /// One App Runner call, `target` being the `X-Amz-Target` header.
    pub fn call(&self, target: &str, body: Value) -> Result<Value, ApiError> {
        let mut state = self.lock();
        let operation = target.strip_prefix("AppRunner.");
        let read = matches!(operation, Some("DescribeService" | "ListOperations"));
        if !(read && state.forget_reads) {
            state
                .requests
                .push(json!({"Target": operation.unwrap_or(target), "Body": body, "At": now()}));
        }
        let operation = operation.ok_or_else(|| {
            ApiError::new(
                400,
                "UnknownOperationException",
                format!("unknown target {target}"),
            )
        })?;
        if let Some(fault) = state
            .faults
            .iter_mut()
            .find(|f| f.target == operation && f.remaining > 0 && f.status.is_some())
        {
            fault.remaining -= 1;
            return Err(ApiError::new(
                fault.status.unwrap_or(500),
                &fault.kind,
                "injected by the emulator",
            ));
        }
        settle(&mut state, now());
        match operation {
            "DescribeService" => {
                let record = find(&mut state, &body)?;
                Ok(json!({"Service": record.service}))
            }
            "UpdateService" => self.update_service(&mut state, body),
            "StartDeployment" => self.start_deployment(&mut state, &body),
            "ListOperations" => list_operations(&mut state, &body),
            other => Err(ApiError::new(
                400,
                "UnknownOperationException",
                format!("operation {other} is not emulated"),
            )),
        }
    }

    fn next_id(state: &mut State) -> u64 {
        state.counter += 1;
        state.counter
    }

    fn seed(&self, mut body: Value) -> Result<Value, ApiError> {
        let name = body
            .get("ServiceName")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_request("ServiceName is required"))?
            .to_owned();
        let source = body
            .get("SourceConfiguration")
            .cloned()
            .ok_or_else(|| ApiError::invalid_request("SourceConfiguration is required"))?;
        validate_source(&source)?;
        let mut state = self.lock();
        let n = Self::next_id(&mut state);
        let id = format!("{n:08x}{:024x}", n * 7919);
        let arn = format!(
            "arn:aws:apprunner:{}:{}:service/{name}/{id}",
            self.config.region, self.config.account
        );
        let t = now();
        let map = body
            .as_object_mut()
            .ok_or_else(|| ApiError::invalid_request("body must be an object"))?;
        let mut service = Map::new();
        service.insert("ServiceName".into(), name.clone().into());
        service.insert("ServiceId".into(), id.clone().into());
        service.insert("ServiceArn".into(), arn.clone().into());
        service.insert(
            "ServiceUrl".into(),
            format!("{}.{}.awsapprunner.com", &id[..10], self.config.region).into(),
        );
        service.insert("CreatedAt".into(), t.into());
        service.insert("UpdatedAt".into(), t.into());
        service.insert("Status".into(), "RUNNING".into());
        service.insert("SourceConfiguration".into(), source);
        service.insert(
            "InstanceConfiguration".into(),
            map.remove("InstanceConfiguration")
                .unwrap_or_else(|| json!({"Cpu": "1024", "Memory": "2048"})),
        );
        service.insert(
            "AutoScalingConfigurationSummary".into(),
            json!({
                "AutoScalingConfigurationArn": format!(
                    "arn:aws:apprunner:{}:{}:autoscalingconfiguration/DefaultConfiguration/1/00000000000000000000000000000001",
                    self.config.region, self.config.account
                ),
                "AutoScalingConfigurationName": "DefaultConfiguration",
                "AutoScalingConfigurationRevision": 1
            }),
        );
        service.insert(
            "NetworkConfiguration".into(),
            map.remove("NetworkConfiguration").unwrap_or_else(|| {
                json!({"EgressConfiguration": {"EgressType": "DEFAULT"}, "IngressConfiguration": {"IsPubliclyAccessible": true}, "IpAddressType": "IPV4"})
            }),
        );
        for optional in [
            "HealthCheckConfiguration",
            "ObservabilityConfiguration",
            "EncryptionConfiguration",
        ] {
            if let Some(v) = map.remove(optional) {
                service.insert(optional.into(), v);
            }
        }
        let service = Value::Object(service);
        state.services.push(ServiceRecord {
            service: service.clone(),
            operations: Vec::new(),
            planned: VecDeque::new(),
        });
        Ok(json!({"Service": service}))
    }

    fn plan_outcome(&self, body: Value) -> Result<Value, ApiError> {
        let outcome = body
            .get("Outcome")
            .and_then(Value::as_str)
            .and_then(Outcome::parse)
            .ok_or_else(|| {
                ApiError::invalid_request("Outcome must be SUCCEEDED, FAILED or ROLLBACK_SUCCEEDED")
            })?;
        let delay = body
            .get("DelayMs")
            .and_then(Value::as_u64)
            .map(Duration::from_millis);
        let mut state = self.lock();
        find(&mut state, &body)?.planned.push_back((outcome, delay));
        Ok(json!({}))
    }

    fn add_fault(&self, body: Value) -> Result<Value, ApiError> {
        let target = body
            .get("Target")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::invalid_request("Target is required"))?;
        let delay = body.get("DelayMs").and_then(Value::as_u64);
        let status = match (body.get("Status").and_then(Value::as_u64), delay) {
            (Some(status), _) => Some(status as u16),
            (None, Some(_)) => None,
            (None, None) => Some(500),
        };
        let kind = body
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or("InternalServiceErrorException");
        let count = body.get("Count").and_then(Value::as_u64).unwrap_or(1) as u32;
        self.lock().faults.push(Fault {
            target: target.to_owned(),
            status,
            kind: kind.to_owned(),
            delay: Duration::from_millis(delay.unwrap_or(0)),
            remaining: count,
        });
        Ok(json!({}))
    }

    /// The delay owed to this call of `operation` by a slow-response fault, if any.
    fn take_delay(&self, operation: &str) -> Duration {
        let mut state = self.lock();
        match state
            .faults
            .iter_mut()
            .find(|f| f.target == operation && f.remaining > 0 && f.status.is_none())
        {
            Some(fault) => {
                fault.remaining -= 1;
                fault.delay
            }
            None => Duration::ZERO,
        }
    }

    fn update_service(&self, state: &mut State, body: Value) -> Result<Value, ApiError> {
        let Value::Object(request) = &body else {
            return Err(ApiError::invalid_request("body must be an object"));
        };
        for key in request.keys() {
            if !matches!(
                key.as_str(),
                "ServiceArn"
                    | "SourceConfiguration"
                    | "InstanceConfiguration"
                    | "AutoScalingConfigurationArn"
                    | "HealthCheckConfiguration"
                    | "NetworkConfiguration"
                    | "ObservabilityConfiguration"
            ) {
                return Err(ApiError::new(
                    400,
                    "SerializationException",
                    format!("unknown member {key}"),
                ));
            }
        }
        if let Some(source) = request.get("SourceConfiguration") {
            validate_source(source)?;
        }
        let delay = self.config.operation_delay;
        let n = Self::next_id(state);
        let record = find(state, &body)?;
        ensure_idle(record)?;
        let previous = record.service.clone();
        let service = record
            .service
            .as_object_mut()
            .expect("services are objects");
        if let Some(source) = request.get("SourceConfiguration") {
            service.insert("SourceConfiguration".into(), source.clone());
        }
        if let Some(Value::Object(instance)) = request.get("InstanceConfiguration") {
            let current = service
                .entry("InstanceConfiguration")
                .or_insert_with(|| json!({}));
            for (k, v) in instance {
                current[k] = v.clone();
            }
        }
        for replaced in [
            "HealthCheckConfiguration",
            "NetworkConfiguration",
            "ObservabilityConfiguration",
        ] {
            if let Some(v) = request.get(replaced) {
                service.insert(replaced.into(), v.clone());
            }
        }
        if let Some(arn) = request.get("AutoScalingConfigurationArn") {
            service["AutoScalingConfigurationSummary"]["AutoScalingConfigurationArn"] = arn.clone();
        }
        let id = start_operation(record, n, "UPDATE_SERVICE", previous, delay);
        Ok(json!({"Service": record.service, "OperationId": id}))
    }

    fn start_deployment(&self, state: &mut State, body: &Value) -> Result<Value, ApiError> {
        let delay = self.config.operation_delay;
        let n = Self::next_id(state);
        let record = find(state, body)?;
        ensure_idle(record)?;
        let previous = record.service.clone();
        let id = start_operation(record, n, "START_DEPLOYMENT", previous, delay);
        Ok(json!({"OperationId": id}))
    }
}

fn validate_source(source: &Value) -> Result<(), ApiError> {
    let image = source.get("ImageRepository");
    let code = source.get("CodeRepository");
    match (image, code) {
        (Some(_), Some(_)) => Err(ApiError::invalid_request(
            "SourceConfiguration takes ImageRepository or CodeRepository, not both",
        )),
        (None, None) => Err(ApiError::invalid_request(
            "SourceConfiguration needs ImageRepository or CodeRepository",
        )),
        (Some(image), None) => {
            for required in ["ImageIdentifier", "ImageRepositoryType"] {
                if image.get(required).and_then(Value::as_str).is_none() {
                    return Err(ApiError::invalid_request(format!(
                        "ImageRepository.{required} is required"
                    )));
                }
            }
            validate_maps(image.get("ImageConfiguration"))
        }
        (None, Some(code)) => validate_maps(
            code.get("CodeConfiguration")
                .and_then(|c| c.get("CodeConfigurationValues")),
        ),
    }
}

/// Environment variables and secret references are string-to-string maps.
fn validate_maps(configuration: Option<&Value>) -> Result<(), ApiError> {
    let Some(configuration) = configuration else {
        return Ok(());
    };
    for map in ["RuntimeEnvironmentVariables", "RuntimeEnvironmentSecrets"] {
        match configuration.get(map) {
            None => {}
            Some(Value::Object(entries)) if entries.values().all(Value::is_string) => {}
            Some(_) => {
                return Err(ApiError::invalid_request(format!(
                    "{map} must map names to strings"
                )))
            }
        }
    }
    Ok(())
}

fn find<'s>(state: &'s mut State, body: &Value) -> Result<&'s mut ServiceRecord, ApiError> {
    let arn = body
        .get("ServiceArn")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::invalid_request("ServiceArn is required"))?;
    state
        .services
        .iter_mut()
        .find(|r| r.service["ServiceArn"] == arn)
        .ok_or_else(|| ApiError::not_found(arn))
}

fn ensure_idle(record: &ServiceRecord) -> Result<(), ApiError> {
    let status = record.service["Status"].as_str().unwrap_or_default();
    if status == "RUNNING" {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            "InvalidStateException",
            format!("Service cannot be updated in the current state: {status}."),
        ))
    }
}

fn start_operation(
    record: &mut ServiceRecord,
    n: u64,
    kind: &'static str,
    previous: Value,
    default_delay: Duration,
) -> String {
    let (outcome, delay) = record
        .planned
        .pop_front()
        .unwrap_or((Outcome::Succeeded, None));
    let delay = delay.unwrap_or(default_delay).as_secs_f64();
    let t = now();
    let id = format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        n,
        n % 0xffff,
        n % 0xfff,
        (n * 31) % 0xfff,
        n * 104_729
    );
    record.service["Status"] = "OPERATION_IN_PROGRESS".into();
    record.service["UpdatedAt"] = t.into();
    record.operations.push(Operation {
        id: id.clone(),
        kind,
        status: "IN_PROGRESS",
        started_at: t,
        ends_at: t + delay,
        ended_at: None,
        outcome,
        previous,
    });
    id
}

/// Ends every operation whose time has come.
fn settle(state: &mut State, t: f64) {
    for record in &mut state.services {
        for op in &mut record.operations {
            if op.status != "IN_PROGRESS" || t < op.ends_at {
                continue;
            }
            op.status = op.outcome.status();
            op.ended_at = Some(op.ends_at);
            if op.outcome != Outcome::Succeeded {
                let mut restored = op.previous.clone();
                restored["UpdatedAt"] = op.ends_at.into();
                record.service = restored;
            }
            record.service["Status"] = "RUNNING".into();
            record.service["UpdatedAt"] = op.ends_at.into();
        }
    }
}

fn list_operations(state: &mut State, body: &Value) -> Result<Value, ApiError> {
    let max = match body.get("MaxResults") {
        None => 20,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=20) => n as usize,
            _ => {
                return Err(ApiError::invalid_request(
                    "MaxResults must be between 1 and 20",
                ))
            }
        },
    };
    let start = match body.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .map_err(|_| ApiError::invalid_request("NextToken is not valid"))?,
    };
    let record = find(state, body)?;
    let arn = record.service["ServiceArn"].clone();
    // Newest first, as App Runner lists them.
    let all: Vec<&Operation> = record.operations.iter().rev().collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|op| {
            let mut v = json!({
                "Id": op.id, "Type": op.kind, "Status": op.status, "TargetArn": arn,
                "StartedAt": op.started_at, "UpdatedAt": op.ended_at.unwrap_or(op.started_at),
            });
            if let Some(ended) = op.ended_at {
                v["EndedAt"] = ended.into();
            }
            v
        })
        .collect();
    let mut response = json!({"OperationSummaryList": page});
    if start + max < all.len() {
        response["NextToken"] = (start + max).to_string().into();
    }
    Ok(response)
}

fn json_response(status: u16, value: &Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    response
}

fn error_response(e: &ApiError) -> Response<Full<Bytes>> {
    let mut response = json_response(e.status, &json!({"__type": e.kind, "Message": e.message}));
    if let Ok(v) = hyper::header::HeaderValue::from_str(&e.kind) {
        response.headers_mut().insert("x-amzn-errortype", v);
    }
    response
}

/// Used by `main` to parse `--flag value` pairs without a dependency.
pub fn flag_value(args: &[String], flag: &str) -> Option<String> {
    args.iter()
        .position(|a| a == flag)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Control-endpoint helpers for tests: the same JSON the HTTP endpoints take.
impl Emulator {
    pub fn seed_service(&self, body: Value) -> Result<Value, ApiError> {
        self.seed(body)
    }
    pub fn requests(&self) -> Vec<Value> {
        self.lock().requests.clone()
    }
    /// From now on, keep only the changes (UpdateService, StartDeployment) in [`Self::requests`].
    pub fn forget_reads(&self) {
        self.lock().forget_reads = true;
    }
    /// The bodies of every UpdateService received, in order.
    pub fn updates(&self) -> Vec<Value> {
        self.lock()
            .requests
            .iter()
            .filter(|r| r["Target"] == "UpdateService")
            .map(|r| r["Body"].clone())
            .collect()
    }
    pub fn plan(&self, body: Value) -> Result<Value, ApiError> {
        self.plan_outcome(body)
    }
    pub fn fault(&self, body: Value) -> Result<Value, ApiError> {
        self.add_fault(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emulator_with_service() -> (Emulator, String) {
        let e = Emulator::new(EmulatorConfig::default());
        let s = e
            .seed_service(json!({
                "ServiceName": "svc",
                "SourceConfiguration": {"ImageRepository": {"ImageIdentifier": "img:1", "ImageRepositoryType": "ECR"}}
            }))
            .unwrap();
        let arn = s["Service"]["ServiceArn"].as_str().unwrap().to_owned();
        (e, arn)
    }

    #[test]
    fn bad_requests_are_refused_with_the_real_error_types() {
        let (e, arn) = emulator_with_service();
        let both = json!({"ServiceArn": arn, "SourceConfiguration": {
            "ImageRepository": {"ImageIdentifier": "i", "ImageRepositoryType": "ECR"},
            "CodeRepository": {"RepositoryUrl": "u", "SourceCodeVersion": {"Type": "BRANCH", "Value": "main"}}}});
        assert_eq!(
            e.call("AppRunner.UpdateService", both).unwrap_err().kind,
            "InvalidRequestException"
        );
        let unknown = json!({"ServiceArn": arn, "InstanceRole": "x"});
        assert_eq!(
            e.call("AppRunner.UpdateService", unknown).unwrap_err().kind,
            "SerializationException"
        );
        let not_strings = json!({"ServiceArn": arn, "SourceConfiguration": {"ImageRepository": {
            "ImageIdentifier": "i", "ImageRepositoryType": "ECR",
            "ImageConfiguration": {"RuntimeEnvironmentVariables": {"A": 1}}}}});
        assert_eq!(
            e.call("AppRunner.UpdateService", not_strings)
                .unwrap_err()
                .kind,
            "InvalidRequestException"
        );
        assert_eq!(
            e.call("AppRunner.DescribeService", json!({}))
                .unwrap_err()
                .kind,
            "InvalidRequestException"
        );
        assert_eq!(
            e.call("AppRunner.DeleteService", json!({"ServiceArn": arn}))
                .unwrap_err()
                .kind,
            "UnknownOperationException"
        );
        assert_eq!(
            e.call("Lambda.Invoke", json!({})).unwrap_err().kind,
            "UnknownOperationException"
        );
        assert!(e.seed_service(json!({"ServiceName": "x"})).is_err());
        assert_eq!(
            e.requests().len(),
            6,
            "every App Runner call is recorded, refused or not"
        );
    }

    #[test]
    fn instance_configuration_merges_and_leaves_the_role_alone() {
        let (e, arn) = emulator_with_service();
        e.call(
            "AppRunner.UpdateService",
            json!({"ServiceArn": arn, "InstanceConfiguration": {"Cpu": "2048"}}),
        )
        .unwrap();
        let s = e
            .call("AppRunner.DescribeService", json!({"ServiceArn": arn}))
            .unwrap();
        assert_eq!(s["Service"]["InstanceConfiguration"]["Cpu"], "2048");
        assert_eq!(s["Service"]["InstanceConfiguration"]["Memory"], "2048");
        assert_eq!(s["Service"]["Status"], "OPERATION_IN_PROGRESS");
    }
}
