//! What the incident and fault tests share: the injected clock's origin, the stack they start,
//! recorded events, and the Lambdas driven minute by minute.

use crate::fixtures_dir;
use escalate::Escalate;
use local_stack::stack::Stack;
use remediator_adapters::followup::DeskAnswer;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use triage::Triage;

/// 2026-12-04 03:15:00 UTC, minutes after the recorded events' failures began.
pub const T0: i64 = 1_796_354_100_000;
pub const MIN: i64 = 60_000;
/// App Runner operations take this long in the emulator.
pub const OPERATION: Duration = Duration::from_millis(100);
/// The client secret a broken service is seeded with (the right one is `RIGHT_SECRET`).
pub const WRONG_SECRET: &str = "old-secret-4b1d";
/// Where nothing listens: a dependency that is down.
pub const DOWN: &str = "http://127.0.0.1:9";

/// A recorded wire-format event from `tests/fixtures/events`.
pub fn event(name: &str) -> Value {
    serde_json::from_slice(&std::fs::read(fixtures_dir().join("events").join(name)).unwrap())
        .unwrap()
}

/// The local stack with the BankID stand-in, the service seeded with `service_secret`.
pub async fn stack(service_secret: &str) -> Stack {
    Stack::start(service_secret, OPERATION)
        .await
        .expect("local stack")
        .with_bankid()
        .await
        .expect("BankID stand-in")
}

/// The scheduled tick at `minute` of incident time.
pub async fn tick(escalate: &Escalate, minute: i64) -> DeskAnswer {
    try_tick(escalate, minute)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The scheduled tick at `minute`; the error names the minute.
pub async fn try_tick(escalate: &Escalate, minute: i64) -> Result<DeskAnswer, String> {
    escalate
        .escalate(
            json!({"action": "tick"}),
            &format!("tick-{minute}"),
            T0 + minute * MIN,
        )
        .await
        .map_err(|e| format!("tick at minute {minute}: {e}"))
}

/// A manual action at `minute`; the error as its message.
pub async fn manual(
    escalate: &Escalate,
    payload: Value,
    minute: i64,
) -> Result<DeskAnswer, String> {
    escalate
        .escalate(payload, &format!("manual-{minute}"), T0 + minute * MIN)
        .await
        .map_err(|e| e.to_string())
}

/// Opens the incident from a recorded subscription event.
pub async fn open(triage: &Triage, fixture: &str) -> String {
    let out = triage.triage(event(fixture), "req-open", T0).await.unwrap();
    out.response.incident.expect("an incident was opened").id
}

/// Runs `events` through triage all at once. Lambda retries an invocation that answered
/// Retryable (the lock was busy for too long), so those are delivered again until they land.
pub async fn deliver_concurrently(triage: Arc<Triage>, events: Vec<Value>) {
    let mut pending: Vec<(usize, Value)> = events.into_iter().enumerate().collect();
    for round in 0..10 {
        let mut calls = tokio::task::JoinSet::new();
        for (n, event) in pending.drain(..) {
            let triage = triage.clone();
            calls.spawn(async move {
                let result = triage.triage(event.clone(), &format!("req-{n}"), T0).await;
                (n, event, result)
            });
        }
        while let Some(joined) = calls.join_next().await {
            let (n, event, result) = joined.unwrap();
            match result {
                Ok(_) => {}
                Err(e) if e.retryable() => pending.push((n, event)),
                Err(e) => panic!("delivery {n} refused in round {round}: {e}"),
            }
        }
        if pending.is_empty() {
            return;
        }
    }
    panic!("{} deliveries never landed", pending.len());
}

/// The approval token in an approval request page's body.
pub fn token_from(body: &str) -> String {
    let start = body
        .find("\"token\":\"")
        .expect("the approval carries a token")
        + 9;
    let token: String = body[start..].chars().take_while(|c| *c != '"').collect();
    assert_eq!(token.len(), 32, "{token}");
    token
}
