//! The `remediator` binary as a user runs it: output formats, exit codes, one-line errors.

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn remediator(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_remediator"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("remediator starts");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn assert_bad_input(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty(), "nothing on stdout on error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim_end().lines().count(), 1, "one-line error: {err}");
    assert!(err.contains(needle), "{err}");
}

/// The corpus, with its labels stripped, through `classify --per-line`: right on every line.
#[test]
fn per_line_is_right_on_the_whole_corpus() {
    let corpus = std::fs::read_to_string(fixtures().join("lines/corpus.tsv")).unwrap();
    let labelled: Vec<(&str, &str)> = corpus
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split_once('\t').unwrap())
        .collect();
    let input: String = labelled
        .iter()
        .map(|(_, line)| format!("{line}\n"))
        .collect();
    let out = remediator(&["classify", "--per-line", "-"], input.as_bytes());
    assert!(out.status.success(), "{out:?}");
    let verdicts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(verdicts.len(), labelled.len());
    for (i, ((label, line), verdict)) in labelled.iter().zip(&verdicts).enumerate() {
        assert_eq!(verdict["line"], i + 1);
        let expected = if *label == "none" {
            Value::Null
        } else {
            Value::from(*label)
        };
        assert_eq!(verdict["cause"], expected, "line {}: {line}", i + 1);
        assert_eq!(
            verdict.as_object().unwrap().len(),
            2,
            "exactly line and cause"
        );
    }
}

#[test]
fn classify_prints_one_diagnosis_from_a_file_or_stdin() {
    let dir = std::env::temp_dir().join(format!("remediator-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("app.log");
    std::fs::write(
        &file,
        "GET /api/health 200 1ms\r\nBankID OAuth error: invalid_client\r\nOPError: invalid_client (Invalid client credentials)\r\n",
    )
    .unwrap();
    let from_file = remediator(&["classify", file.to_str().unwrap()], b"");
    let from_stdin = remediator(&["classify"], &std::fs::read(&file).unwrap());
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(from_file.status.success(), "{from_file:?}");
    assert_eq!(from_file.stdout, from_stdin.stdout);
    let d: Value = serde_json::from_slice(&from_file.stdout).unwrap();
    assert_eq!(d["cause"], "invalid_credentials");
    assert_eq!(d["lines_examined"], 3);
    assert_eq!(d["counts"]["invalid_credentials"], 2);
    assert_eq!(d["counts"].as_object().unwrap().len(), 7);
}

#[test]
fn per_line_numbers_every_input_line_including_blank_ones() {
    let out = remediator(&["classify", "--per-line"], b"\nBankID API timeout\n\n");
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text,
        "{\"line\":1,\"cause\":null}\n{\"line\":2,\"cause\":\"network\"}\n{\"line\":3,\"cause\":null}\n"
    );
}

#[test]
fn decode_prints_what_the_lambda_sees() {
    let event = fixtures().join("events/logs-invalid-credentials.json");
    let out = remediator(&["decode", event.to_str().unwrap()], b"");
    assert!(out.status.success(), "{out:?}");
    let decoded: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decoded["trigger"], "logs_subscription");
    assert_eq!(decoded["signals"][0]["kind"], "logs");
    assert_eq!(decoded["signals"][0]["lines"].as_array().unwrap().len(), 10);

    let sns = fixtures().join("events/alarm-sns.json");
    let out = remediator(&["decode", sns.to_str().unwrap()], b"");
    let decoded: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decoded["signals"][0]["kind"], "alarm");
    assert_eq!(decoded["signals"][0]["state"], "ALARM");
}

#[test]
fn encode_logs_round_trips_through_decode() {
    let source = fixtures().join("sources/logs-network.json");
    let encoded = remediator(&["encode-logs", source.to_str().unwrap()], b"");
    assert!(encoded.status.success(), "{encoded:?}");
    let decoded = remediator(&["decode", "-"], &encoded.stdout);
    let decoded: Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(
        decoded["signals"][0]["lines"][1]["message"],
        "[auth][cause]: TypeError: fetch failed"
    );
}

#[test]
fn bad_input_exits_2_with_one_line() {
    assert_bad_input(
        &remediator(&["decode", "-"], b"{\"what\": 1}"),
        "unrecognised event",
    );
    assert_bad_input(
        &remediator(&["decode", "-"], b"{not json"),
        "event is not JSON",
    );
    assert_bad_input(
        &remediator(&["decode", "/nonexistent/event.json"], b""),
        "cannot read /nonexistent/event.json",
    );
    assert_bad_input(
        &remediator(&["classify"], b"fine\n\xff\xfe broken\n"),
        "line 2 is not valid UTF-8",
    );
    let huge = vec![b'x'; 1024 * 1024];
    assert_bad_input(
        &remediator(&["classify", "--per-line"], &huge),
        "line 1 is 1048576 bytes",
    );
    assert_bad_input(
        &remediator(&["encode-logs", "-"], b"{}"),
        "not a CloudWatch Logs payload",
    );
}

#[test]
fn usage_errors_exit_2_and_help_works_for_each_command() {
    let out = remediator(&["frobnicate"], b"");
    assert_eq!(out.status.code(), Some(2));
    for cmd in [
        &["--help"][..],
        &["classify", "--help"],
        &["decode", "--help"],
        &["encode-logs", "--help"],
    ] {
        let out = remediator(cmd, b"");
        assert!(out.status.success(), "{cmd:?}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("Usage: remediator"),
            "{cmd:?}"
        );
    }
}
