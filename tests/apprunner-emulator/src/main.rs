//! `apprunner-emulator --port 4590 [--operation-ms 500] [--region eu-west-1] [--account 123456789012]`
//!
//! Serves the App Runner emulator on 127.0.0.1 until killed.

use apprunner_emulator::{flag_value, Emulator, EmulatorConfig};
use std::process::ExitCode;
use std::time::Duration;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("Usage: apprunner-emulator --port PORT [--operation-ms MS] [--region REGION] [--account ID]");
        return ExitCode::SUCCESS;
    }
    let mut config = EmulatorConfig::default();
    let port = match flag_value(&args, "--port").map(|p| p.parse::<u16>()) {
        Some(Ok(p)) => p,
        None => 4590,
        Some(Err(_)) => {
            eprintln!("apprunner-emulator: --port takes a number from 0 to 65535");
            return ExitCode::from(2);
        }
    };
    if let Some(ms) = flag_value(&args, "--operation-ms") {
        match ms.parse::<u64>() {
            Ok(ms) => config.operation_delay = Duration::from_millis(ms),
            Err(_) => {
                eprintln!("apprunner-emulator: --operation-ms takes milliseconds");
                return ExitCode::from(2);
            }
        }
    }
    if let Some(region) = flag_value(&args, "--region") {
        config.region = region;
    }
    if let Some(account) = flag_value(&args, "--account") {
        config.account = account;
    }
    let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("apprunner-emulator: cannot listen on 127.0.0.1:{port}: {e}");
            return ExitCode::from(1);
        }
    };
    match listener.local_addr() {
        Ok(addr) => println!("apprunner-emulator listening on http://{addr}"),
        Err(e) => eprintln!("apprunner-emulator: {e}"),
    }
    match Emulator::new(config).serve(listener).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("apprunner-emulator: {e}");
            ExitCode::from(1)
        }
    }
}
