//! `local-stack`: the whole local stack as a process, for `make local`: moto, the App Runner
//! emulator with the service seeded, the secret, the state table, the topics with a queue, the
//! app's log group and the BankID stand-in. Writes the Lambdas' environment (and the AWS
//! endpoint variables) to `--env-file` as KEY=VALUE lines, then serves until stopped.

use local_stack::stack::Stack;
use remediator_core::settings::Mode;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let env_file = flag("--env-file").unwrap_or_else(|| "target/local-stack.env".into());
    let service_secret = flag("--service-secret").unwrap_or_else(|| "old-secret-4b1d".into());
    let stack = match Stack::start(&service_secret, Duration::from_millis(500)).await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let stack = match stack.with_bankid().await {
        Ok(stack) => stack,
        Err(e) => {
            eprintln!("local-stack: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let mut lines: Vec<String> = stack
        .environment(Mode::Live)
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    lines.extend([
        format!("AWS_ENDPOINT_URL={}", stack.moto.endpoint),
        format!("AWS_ENDPOINT_URL_APPRUNNER={}", stack.emulator_url),
        format!("AWS_ACCESS_KEY_ID={}", local_stack::ACCESS_KEY_ID),
        format!("AWS_SECRET_ACCESS_KEY={}", local_stack::SECRET_ACCESS_KEY),
        format!("AWS_REGION={}", local_stack::REGION),
        format!("PAGE_QUEUE_URL={}", stack.page_queue_url),
    ]);
    if let Err(e) = std::fs::write(&env_file, lines.join("\n") + "\n") {
        eprintln!("local-stack: writing {env_file}: {e}");
        return std::process::ExitCode::FAILURE;
    }
    println!("local stack ready; environment in {env_file}:");
    for line in &lines {
        println!("  {line}");
    }
    // Serve until stopped; returning drops the stack, which stops moto.
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("local-stack: {e}");
                return std::process::ExitCode::FAILURE;
            }
        };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    drop(stack);
    let _ = std::fs::remove_file(&env_file);
    std::process::ExitCode::SUCCESS
}
