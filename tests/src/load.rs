//! A sustained load of real-format CloudWatch Logs deliveries through the triage handler on the
//! local stack: BankID failures amid ordinary request lines, paced in real time, every delivery
//! a concurrent invocation, retried as Lambda retries a Retryable answer.
//!
//! It reports what must hold (one incident, one App Runner change, no delivery lost) and what
//! it cost: delivery latency, the time from the first event in to the UpdateService the emulator
//! received, and the process's resident memory sampled every 100 ms. The emulator and the BankID
//! stand-in run in this process (the emulator keeps only the changes it receives, not every read);
//! moto is another process and not counted.

use local_stack::stack::{Stack, APP_LOG_GROUP};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use triage::Triage;

/// How much load, for how long.
#[derive(Debug, Clone, Copy)]
pub struct LoadPlan {
    pub events_per_second: u32,
    pub seconds: u32,
    /// Log events per subscription delivery (CloudWatch batches them).
    pub events_per_delivery: u32,
    /// One line in this many is a BankID failure; the rest are ordinary request lines.
    pub failure_every: u32,
}

impl Default for LoadPlan {
    fn default() -> Self {
        LoadPlan {
            events_per_second: 1_000,
            seconds: 60,
            events_per_delivery: 100,
            failure_every: 10,
        }
    }
}

/// What the run did and cost.
#[derive(Debug, Clone)]
pub struct LoadResult {
    pub deliveries: u64,
    pub events: u64,
    /// Invocations answered Retryable and delivered again.
    pub retries: u64,
    /// Deliveries that never landed.
    pub lost: u64,
    pub app_runner_updates: usize,
    pub incidents: usize,
    /// The largest incident record in the state table (DynamoDB refuses items over 400 KB).
    pub incident_record_bytes: usize,
    /// First event in → UpdateService received by the emulator.
    pub first_update_after: Option<Duration>,
    pub latency_p50: Duration,
    pub latency_p99: Duration,
    pub latency_max: Duration,
    pub elapsed: Duration,
    /// Resident memory: the most seen, after the first second, and at the end (KiB).
    pub peak_rss_kib: u64,
    pub rss_after_first_second_kib: u64,
    pub rss_at_end_kib: u64,
}

/// `VmRSS` of this process in KiB (Linux), 0 where unavailable.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// One subscription delivery of `plan.events_per_delivery` lines, ids unique across the run.
fn delivery(plan: &LoadPlan, n: u64, now_ms: i64) -> serde_json::Value {
    let events: Vec<serde_json::Value> = (0..u64::from(plan.events_per_delivery))
        .map(|i| {
            let seq = n * u64::from(plan.events_per_delivery) + i;
            let message = if seq.is_multiple_of(u64::from(plan.failure_every.max(1))) {
                format!("[next-auth][error][OAUTH_CALLBACK_ERROR] BankID OAuth error: invalid_client (request {seq})")
            } else {
                format!("GET /api/products?page={} 200 {}ms", seq % 50, seq % 90)
            };
            json!({"id": format!("{:056}", 37_900_000 + seq), "timestamp": now_ms, "message": message})
        })
        .collect();
    let payload = json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": APP_LOG_GROUP,
        "logStream": "instance/load",
        "subscriptionFilters": ["bankid-triage"],
        "logEvents": events,
    });
    remediator_core::decode::encode_logs_event(payload.to_string().as_bytes())
        .expect("the generated payload is a CloudWatch Logs payload")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Runs `plan` through `triage` against `stack`.
pub async fn run(stack: &Stack, triage: Arc<Triage>, plan: LoadPlan) -> LoadResult {
    let per_second = (plan.events_per_second / plan.events_per_delivery.max(1)).max(1);
    let total = u64::from(per_second) * u64::from(plan.seconds);
    let peak = Arc::new(AtomicU64::new(rss_kib()));
    let sampling = tokio::spawn({
        let peak = peak.clone();
        async move {
            loop {
                peak.fetch_max(rss_kib(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    stack.emulator.forget_reads();
    let retries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let started_epoch_ms = epoch_ms();
    let mut pace = tokio::time::interval(Duration::from_secs(1) / per_second);
    let mut calls = tokio::task::JoinSet::new();
    let mut rss_after_first_second = 0;
    let mut latencies = Vec::new();
    let mut lost = 0;
    let mut record = |landed: Option<Duration>| match landed {
        Some(latency) => latencies.push(latency),
        None => lost += 1,
    };
    for n in 0..total {
        pace.tick().await;
        // A finished task keeps its memory until joined: join as we go, so the figure is the
        // handler's, not the load generator's.
        while let Some(joined) = calls.try_join_next() {
            record(joined.expect("a delivery task panicked"));
        }
        if n == u64::from(per_second) {
            rss_after_first_second = rss_kib();
        }
        let event = delivery(&plan, n, epoch_ms());
        let triage = triage.clone();
        let retries = retries.clone();
        calls.spawn(async move {
            let sent = Instant::now();
            for attempt in 0..20 {
                match triage
                    .triage(event.clone(), &format!("load-{n}-{attempt}"), epoch_ms())
                    .await
                {
                    Ok(_) => return Some(sent.elapsed()),
                    Err(e) if e.retryable() => {
                        retries.fetch_add(1, Ordering::Relaxed);
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                    Err(e) => panic!("delivery {n} refused: {e}"),
                }
            }
            None
        });
    }
    while let Some(joined) = calls.join_next().await {
        record(joined.expect("a delivery task panicked"));
    }
    let elapsed = started.elapsed();
    sampling.abort();
    latencies.sort();
    let updates = stack.emulator.updates();
    let incidents = incidents(stack).await;
    let first_update_after = stack
        .emulator
        .requests()
        .iter()
        .find(|r| r["Target"] == "UpdateService")
        .and_then(|r| r["At"].as_f64())
        .map(|at| Duration::from_secs_f64((at - started_epoch_ms as f64 / 1000.0).max(0.0)));
    LoadResult {
        deliveries: total,
        events: total * u64::from(plan.events_per_delivery),
        retries: retries.load(Ordering::Relaxed),
        lost,
        app_runner_updates: updates.len(),
        incidents: incidents.0,
        incident_record_bytes: incidents.1,
        first_update_after,
        latency_p50: percentile(&latencies, 0.50),
        latency_p99: percentile(&latencies, 0.99),
        latency_max: latencies.last().copied().unwrap_or_default(),
        elapsed,
        peak_rss_kib: peak.load(Ordering::Relaxed).max(rss_kib()),
        rss_after_first_second_kib: rss_after_first_second,
        rss_at_end_kib: rss_kib(),
    }
}

/// Incident records in the state table, and the size of the largest.
async fn incidents(stack: &Stack) -> (usize, usize) {
    let mut count = 0;
    let mut largest = 0;
    let mut start = None;
    loop {
        let page = stack
            .dynamodb_client()
            .scan()
            .table_name(local_stack::stack::TABLE)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan the state table");
        for item in page.items().iter().filter(|item| {
            item.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| pk.starts_with("incident#"))
        }) {
            count += 1;
            let bytes = item
                .get("doc")
                .and_then(|v| v.as_s().ok())
                .map_or(0, String::len);
            largest = largest.max(bytes);
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return (count, largest);
        }
    }
}

impl std::fmt::Display for LoadResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| format!("{:.0} ms", d.as_secs_f64() * 1000.0);
        let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
        writeln!(f, "| measure | value |\n| --- | --- |")?;
        writeln!(
            f,
            "| events / deliveries | {} / {} in {:.1} s |",
            self.events,
            self.deliveries,
            self.elapsed.as_secs_f64()
        )?;
        writeln!(
            f,
            "| retried / lost deliveries | {} / {} |",
            self.retries, self.lost
        )?;
        writeln!(
            f,
            "| incidents / App Runner updates | {} / {} |",
            self.incidents, self.app_runner_updates
        )?;
        writeln!(
            f,
            "| incident record | {:.1} KB |",
            self.incident_record_bytes as f64 / 1000.0
        )?;
        writeln!(
            f,
            "| first event in → UpdateService | {} |",
            self.first_update_after.map_or_else(|| "none".into(), ms)
        )?;
        writeln!(
            f,
            "| delivery latency p50 / p99 / max | {} / {} / {} |",
            ms(self.latency_p50),
            ms(self.latency_p99),
            ms(self.latency_max)
        )?;
        write!(
            f,
            "| RSS after 1 s / at end / peak | {} / {} / {} |",
            mib(self.rss_after_first_second_kib),
            mib(self.rss_at_end_kib),
            mib(self.peak_rss_kib)
        )
    }
}

/// The whole ladder on the accelerated clock: a BankID outage followed for an hour of incident
/// time, one tick per minute as the schedule would run it.
#[derive(Debug, Clone)]
pub struct LadderRun {
    pub ticks: u32,
    pub pages: usize,
    pub elapsed: Duration,
    pub tick_p50: Duration,
    pub tick_max: Duration,
}

/// Opens an outage incident on `stack` (BankID down) and ticks minutes 1 to `minutes`.
pub async fn ladder_run(stack: &Stack, minutes: u32) -> Result<LadderRun, String> {
    use crate::scenario::{event, T0};
    let bankid = stack
        .bankid
        .clone()
        .ok_or("the stack has no BankID stand-in")?;
    bankid.set_up(false);
    let (triage, escalate) = crate::lambdas(stack, remediator_core::settings::Mode::Live);
    let started = Instant::now();
    triage
        .triage(event("logs-bankid-outage.json"), "ladder-open", T0)
        .await
        .map_err(|e| e.to_string())?;
    let mut ticks = Vec::new();
    for minute in 1..=i64::from(minutes) {
        let tick = Instant::now();
        crate::scenario::try_tick(&escalate, minute).await?;
        ticks.push(tick.elapsed());
    }
    let elapsed = started.elapsed();
    ticks.sort();
    Ok(LadderRun {
        ticks: minutes,
        pages: stack.pages().await?.len(),
        elapsed,
        tick_p50: percentile(&ticks, 0.5),
        tick_max: ticks.last().copied().unwrap_or_default(),
    })
}

impl std::fmt::Display for LadderRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "| accelerated ladder: {} minutes of a BankID outage, one tick a minute | {:.2} s ({} pages; tick p50 {:.0} ms, max {:.0} ms) |",
            self.ticks,
            self.elapsed.as_secs_f64(),
            self.pages,
            self.tick_p50.as_secs_f64() * 1000.0,
            self.tick_max.as_secs_f64() * 1000.0
        )
    }
}
