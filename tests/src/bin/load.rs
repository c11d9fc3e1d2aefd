//! `make load`: first the escalation ladder for an hour of incident time on the accelerated clock,
//! then 1,000 log events a second for 60 seconds through triage on the local stack; the table of
//! what held and what it cost. Fails unless the load made one incident, one App Runner change and
//! lost no delivery. Flags: `--events-per-second N`, `--seconds N`, `--per-delivery N`.

use local_stack::stack::RIGHT_SECRET;
use remediator_core::settings::Mode;
use remediator_tests::lambdas;
use remediator_tests::load::{ladder_run, rss_kib, run, LoadPlan};
use remediator_tests::scenario::{stack, WRONG_SECRET};
use std::process::ExitCode;
use std::sync::Arc;

fn flag(args: &[String], name: &str, default: u32) -> Result<u32, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .ok_or_else(|| format!("{name} takes a positive whole number")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let defaults = LoadPlan::default();
    let plan = match (
        flag(&args, "--events-per-second", defaults.events_per_second),
        flag(&args, "--seconds", defaults.seconds),
        flag(&args, "--per-delivery", defaults.events_per_delivery),
    ) {
        (Ok(events_per_second), Ok(seconds), Ok(events_per_delivery)) => LoadPlan {
            events_per_second,
            seconds,
            events_per_delivery,
            ..defaults
        },
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            eprintln!("load: {e}");
            return ExitCode::from(2);
        }
    };
    let rss_before_kib = rss_kib();
    let ladder = match ladder_run(&stack(RIGHT_SECRET).await, 60).await {
        Ok(run) => run,
        Err(e) => {
            eprintln!("load: the ladder run failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{ladder}");
    let stack = stack(WRONG_SECRET).await;
    let (triage, _) = lambdas(&stack, Mode::Live);
    println!(
        "{} events/s for {} s, {} per delivery, on the local stack (RSS before the stack: {:.1} MiB)",
        plan.events_per_second,
        plan.seconds,
        plan.events_per_delivery,
        rss_before_kib as f64 / 1024.0
    );
    let result = run(&stack, Arc::new(triage), plan).await;
    println!("{result}");
    if result.incidents == 1 && result.app_runner_updates == 1 && result.lost == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("load: expected one incident, one App Runner update and no lost delivery");
        ExitCode::FAILURE
    }
}
