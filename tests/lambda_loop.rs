//! The functions as Lambda runs them, locally: `cargo lambda watch` serves the Runtime and Invoke
//! APIs with the local stack's environment, and events go in through `cargo lambda invoke` and
//! the AWS CLI's `aws lambda invoke`, as a person would send them. The resulting state is checked
//! where it lives: the emulator's requests, the SQS queue subscribed to the pager topic, the
//! incident in DynamoDB.
//!
//! Needs cargo-lambda and the AWS CLI (`make test` installs both from PyPI when missing).

use local_stack::stack::{Stack, TABLE};
use remediator_core::settings::Mode;
use remediator_tests::fixtures_dir;
use serde_json::Value;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Stops `cargo lambda watch` (and the functions it runs) when the test ends, pass or fail.
/// `log` holds everything the functions wrote: their log lines and metric lines.
struct Watch(Child, PathBuf);

impl Drop for Watch {
    fn drop(&mut self) {
        // cargo lambda watch stops the function instances it started when asked to terminate.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn stack_env(stack: &Stack) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = stack
        .environment(Mode::Live)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    env.extend([
        ("AWS_ENDPOINT_URL".into(), stack.moto.endpoint.clone()),
        (
            "AWS_ENDPOINT_URL_APPRUNNER".into(),
            stack.emulator_url.clone(),
        ),
        (
            "AWS_ACCESS_KEY_ID".into(),
            local_stack::ACCESS_KEY_ID.into(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".into(),
            local_stack::SECRET_ACCESS_KEY.into(),
        ),
        ("AWS_REGION".into(), local_stack::REGION.into()),
    ]);
    env
}

fn watch(stack: &Stack, port: u16) -> Watch {
    let log = std::env::temp_dir().join(format!("cargo-lambda-watch-{port}.log"));
    let child = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--ignore-changes",
            "-A",
            "127.0.0.1",
            "-P",
        ])
        .arg(port.to_string())
        .current_dir(workspace())
        .envs(stack_env(stack))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("a log file outside the project"))
        .stderr(Stdio::from(
            std::fs::File::options().append(true).open(&log).unwrap(),
        ))
        .spawn()
        .expect("cargo lambda is installed (make test installs it: pip install cargo-lambda)");
    let watch = Watch(child, log.clone());
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "cargo lambda watch did not listen on {port}: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    watch
}

fn run(command: &mut Command) -> Output {
    let out = command
        .current_dir(workspace())
        .output()
        .expect("the command runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn cargo_lambda_invoke(port: u16, function: &str, data_file: &Path) -> Value {
    let out = run(Command::new("cargo")
        .args(["lambda", "invoke", function, "-A", "127.0.0.1", "-P"])
        .arg(port.to_string())
        .args(["--output-format", "json", "--data-file"])
        .arg(data_file));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{function} answered no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// `aws lambda invoke`, with the flags the installed CLI takes (v2 needs the binary format flag).
fn aws_lambda_invoke(stack: &Stack, port: u16, function: &str, payload: &Path) -> Value {
    let version = run(Command::new("aws").arg("--version"));
    let version = String::from_utf8_lossy(&version.stdout).to_string()
        + &String::from_utf8_lossy(&version.stderr);
    let out_file = std::env::temp_dir().join(format!("aws-lambda-invoke-{port}-{function}.json"));
    let mut command = Command::new("aws");
    command
        .args([
            "lambda",
            "invoke",
            "--no-sign-request",
            "--region",
            local_stack::REGION,
        ])
        // A slow first start must not make the CLI retry (and invoke twice).
        .args(["--cli-read-timeout", "300"])
        .arg("--endpoint-url")
        .arg(format!("http://127.0.0.1:{port}"))
        .args(["--function-name", function, "--payload"])
        .arg(format!("file://{}", payload.display()));
    if version.starts_with("aws-cli/2") {
        command.args(["--cli-binary-format", "raw-in-base64-out"]);
    }
    command.arg(&out_file).envs(stack_env(stack));
    let out = run(&mut command);
    let status: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(status["StatusCode"], 200, "{status}");
    assert!(status.get("FunctionError").is_none(), "{status}");
    let body = std::fs::read(&out_file).unwrap();
    let _ = std::fs::remove_file(&out_file);
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_through_cargo_lambda_and_the_aws_cli() {
    let stack = Stack::start("old-secret-4b1d", Duration::from_millis(100))
        .await
        .expect("local stack")
        .with_bankid()
        .await
        .expect("BankID stand-in");
    let port = local_stack::free_port().expect("a free port");
    let watch = watch(&stack, port);
    let events = fixtures_dir().join("events");

    // A log batch with invalid_client: the merged UpdateService, an incident.
    let triaged = tokio::task::block_in_place(|| {
        cargo_lambda_invoke(
            port,
            "triage",
            &events.join("logs-invalid-credentials.json"),
        )
    });
    assert_eq!(
        triaged["diagnosis"]["cause"], "invalid_credentials",
        "{triaged}"
    );
    assert_eq!(
        triaged["actions"][0]["outcome"]["status"], "started",
        "{triaged}"
    );
    let incident = triaged["incident"]["id"].as_str().unwrap().to_owned();
    let updates = stack.emulator.updates();
    assert_eq!(updates.len(), 1);
    let vars = &updates[0]["SourceConfiguration"]["ImageRepository"]["ImageConfiguration"]
        ["RuntimeEnvironmentVariables"];
    assert_eq!(
        vars["BANKID_CLIENT_SECRET"],
        local_stack::stack::RIGHT_SECRET
    );
    assert_eq!(
        vars.as_object().unwrap().len(),
        5,
        "every other variable kept"
    );

    // A BankID outage batch through the AWS CLI: folded in, and its page reaches the queue.
    let outage = tokio::task::block_in_place(|| {
        aws_lambda_invoke(
            &stack,
            port,
            "triage",
            &events.join("logs-bankid-outage.json"),
        )
    });
    assert_eq!(outage["incident"]["id"], incident.as_str(), "{outage}");
    let pages = stack.pages().await.unwrap();
    assert_eq!(pages.len(), 1, "{pages:?}");
    assert_eq!(pages[0].topic, "pager");
    assert!(pages[0].sms.chars().count() <= 140);
    assert!(pages[0].body.contains(&incident));

    // The follow-up, both ways in.
    let manual = fixtures_dir().join("manual");
    let status = tokio::task::block_in_place(|| {
        aws_lambda_invoke(&stack, port, "escalate", &manual.join("status.json"))
    });
    assert_eq!(status["incident"]["id"], incident.as_str(), "{status}");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let tick = tokio::task::block_in_place(|| {
        cargo_lambda_invoke(port, "escalate", &manual.join("tick.json"))
    });
    assert_eq!(tick["incident"]["id"], incident.as_str(), "{tick}");
    assert!(
        tick["did"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d.as_str().unwrap().ends_with("finished: SUCCEEDED")),
        "{tick}"
    );

    // The synthetic login test against the BankID stand-in.
    let canary = tokio::task::block_in_place(|| {
        cargo_lambda_invoke(port, "canary", &events.join("schedule-scheduler.json"))
    });
    assert_eq!(canary["healthy"], true, "{canary}");

    // The incident is stored where the deployed functions keep it.
    let stored = stack
        .dynamodb_client()
        .get_item()
        .table_name(TABLE)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("incident#{incident}")),
        )
        .send()
        .await
        .unwrap();
    let item = stored.item.expect("the incident record exists");
    assert_eq!(item["status"].as_s().unwrap(), "monitoring");

    // Every line the functions logged: informative, and never a secret.
    let logged = std::fs::read_to_string(&watch.1).unwrap();
    assert!(logged.contains("\"BankIdLoginHealthy\":1"), "{logged}");
    assert!(logged.contains("triaged"), "{logged}");
    for secret in [local_stack::stack::RIGHT_SECRET, "old-secret-4b1d"] {
        assert!(!logged.contains(secret), "a log line carries a secret");
    }
}
