//! Decode + classify throughput against the floor set by gzip itself.
//!
//! `decode_1mb_batch`: a CloudWatch Logs subscription event whose payload is 1 MB uncompressed,
//! built from realistic mixed lines (mostly ordinary app and access-log lines, one in ten a BankID
//! failure from the labelled corpus). `inflate_only` is the bare gzip inflate of that payload;
//! `decode_only` is the path from the event's bytes to signals: JSON, base64, gzip, payload JSON;
//! `decode_and_classify` adds every line classified and the diagnosis built. Both report throughput over the same
//! uncompressed bytes, so their ratio is the cost of everything but inflate.
//!
//! `classify_100k_lines`: the classifier alone over 100,000 lines of the same mix.
//!
//! Run: `cargo bench -p remediator-core --bench decode_classify`

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use remediator_core::classify::classifier;
use remediator_core::decode::{batch_from_lines, decode_slice, encode_logs_event};
use remediator_core::diagnosis::Diagnoser;
use remediator_core::signal::Signal;
use std::hint::black_box;
use std::io::Read;

/// Deterministic pseudo-random numbers, so every run measures the same batch.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

const PATHS: &[&str] = &[
    "/api/orders",
    "/api/orders/{id}",
    "/dashboard",
    "/api/auth/session",
    "/api/cart/{id}/items",
    "/_next/static/chunks/{id}.js",
    "/api/health",
    "/api/auth/callback/bankid?code={id}&state={id}",
];
const AGENTS: &[&str] = &[
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "ELB-HealthChecker/2.0",
];

/// One ordinary line, the kinds a Next.js app on App Runner writes, with the fields that vary
/// from line to line (addresses, ids, sizes, durations) varying, so the batch compresses like
/// real logs rather than like one line repeated.
fn ordinary_line(rng: &mut XorShift, i: usize) -> String {
    let id = format!("{:016x}", rng.next());
    let path = rng.pick(PATHS).replace("{id}", &id);
    let ms = rng.next() % 900;
    let ts = 1_796_353_920_000_u64 + i as u64 * 7;
    match rng.next() % 6 {
        0 | 1 => format!(
            r#"10.0.{}.{} - - [04/Dec/2026:03:{:02}:{:02} +0000] "{} {path} HTTP/1.1" {} {} "-" "{}""#,
            rng.next() % 8,
            rng.next() % 250,
            (i / 60) % 60,
            i % 60,
            if rng.next().is_multiple_of(4) {
                "POST"
            } else {
                "GET"
            },
            rng.pick(&[200, 200, 200, 204, 302, 304, 404]),
            rng.next() % 20_000,
            rng.pick(AGENTS)
        ),
        2 => format!(
            r#"{{"level":30,"time":{ts},"pid":1,"hostname":"ip-169-254-172-2","reqId":"{id}","req":{{"method":"GET","url":"{path}"}},"res":{{"statusCode":200}},"responseTime":{ms},"msg":"request completed"}}"#
        ),
        3 => format!(
            r#"{{"level":30,"time":{ts},"pid":1,"hostname":"ip-169-254-172-2","msg":"order created","orderId":"{id}","amountNok":{}}}"#,
            rng.next() % 5000
        ),
        4 => format!(
            r#"{{"level":40,"time":{ts},"pid":1,"msg":"slow query","durationMs":{ms},"table":"orders","rows":{}}}"#,
            rng.next() % 100
        ),
        _ => format!("GET {path} 200 {ms}ms"),
    }
}

fn corpus_failures() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/lines/corpus.tsv"
    );
    std::fs::read_to_string(path)
        .expect("the labelled corpus")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .filter(|(label, _)| *label != "none")
        .map(|(_, line)| line.to_owned())
        .collect()
}

/// A deterministic mix: one line in ten is a BankID failure from the corpus.
fn mixed_lines(count: usize) -> Vec<String> {
    let failures = corpus_failures();
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    (0..count)
        .map(|i| {
            if rng.next().is_multiple_of(10) {
                rng.pick(&failures).clone()
            } else {
                ordinary_line(&mut rng, i)
            }
        })
        .collect()
}

/// A CloudWatch Logs payload of about `target` bytes of JSON.
fn payload_of(target: usize) -> Vec<u8> {
    let lines = mixed_lines(target / 100);
    let mut events = Vec::new();
    let mut size = 0;
    for (i, line) in lines.iter().cycle().enumerate() {
        let event = serde_json::json!({
            "id": format!("{:056}", 37_000_000 + i),
            "timestamp": 1_796_353_920_000_i64 + i as i64,
            "message": line,
        });
        size += event.to_string().len() + 1;
        events.push(event);
        if size >= target {
            break;
        }
    }
    serde_json::to_vec(&serde_json::json!({
        "messageType": "DATA_MESSAGE",
        "owner": "123456789012",
        "logGroup": "/aws/apprunner/drop-production/8f3c2a1b9d7e4f60a1b2c3d4e5f6a7b8/application",
        "logStream": "instance/0a1b2c3d4e5f67890a1b2c3d4e5f6789",
        "subscriptionFilters": ["bankid-triage"],
        "logEvents": events,
    }))
    .expect("payload serialises")
}

fn decode_and_classify(event: &[u8]) -> usize {
    let decoded = decode_slice(event).expect("bench event decodes");
    let mut diagnoser = Diagnoser::new(classifier());
    for signal in &decoded.signals {
        if let Signal::Logs(batch) = signal {
            diagnoser.add_batch(batch);
        }
    }
    diagnoser.finish().counts.total()
}

fn bench_batch(c: &mut Criterion) {
    let payload = payload_of(1024 * 1024);
    let event = serde_json::to_vec(&encode_logs_event(&payload).expect("encodes")).expect("json");
    let compressed = {
        use base64::Engine;
        let value: serde_json::Value = serde_json::from_slice(&event).expect("json");
        base64::engine::general_purpose::STANDARD
            .decode(value["awslogs"]["data"].as_str().expect("data"))
            .expect("base64")
    };
    // The comparison is only fair if the classifier really finds failures in the batch.
    assert!(decode_and_classify(&event) > 0);
    eprintln!(
        "batch: {} bytes of payload, {} bytes gzip ({:.1}x)",
        payload.len(),
        compressed.len(),
        payload.len() as f64 / compressed.len() as f64
    );

    let mut group = c.benchmark_group("decode_1mb_batch");
    group.throughput(Throughput::Bytes(payload.len() as u64));
    group.bench_function("inflate_only", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(payload.len());
            flate2::read::GzDecoder::new(black_box(compressed.as_slice()))
                .read_to_end(&mut out)
                .expect("inflate");
            out.len()
        })
    });
    group.bench_function("decode_only", |b| {
        b.iter(|| {
            decode_slice(black_box(&event))
                .expect("decodes")
                .signals
                .len()
        })
    });
    group.bench_function("decode_and_classify", |b| {
        b.iter(|| decode_and_classify(black_box(&event)))
    });
    group.finish();
}

fn bench_lines(c: &mut Criterion) {
    let lines = mixed_lines(100_000);
    let bytes: usize = lines.iter().map(String::len).sum();
    let batch = batch_from_lines(lines.iter().map(String::as_str));
    let classifier = classifier();
    let mut group = c.benchmark_group("classify_100k_lines");
    group.throughput(Throughput::Elements(lines.len() as u64));
    group.bench_function(format!("batch of {} MB", bytes / 1_000_000), |b| {
        b.iter(|| {
            let mut found = 0;
            classifier.classify_batch(black_box(&batch), |_, _| found += 1);
            found
        })
    });
    group.bench_function("line by line", |b| {
        b.iter(|| {
            lines
                .iter()
                .filter(|l| classifier.classify(black_box(l)).is_some())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, bench_batch, bench_lines);
criterion_main!(benches);
