//! Property-based fuzzing of everything that reads untrusted input: the event decoder (raw bytes,
//! mutated real events, mutated CloudWatch Logs payloads behind their gzip and base64, every
//! JSON field given a wrong type) and the classifier (arbitrary and mutated log lines).
//!
//! Each property asserts no panic, and that every refusal is an error that says what was wrong.
//! Seeds are the recorded fixtures plus `tests/fuzz/corpus/`; failures proptest shrinks are
//! kept in `tests/fuzz/regressions/` and replayed first on every run.
//!
//! `make test` runs `FUZZ_CASES` cases per property (256 by default); `make fuzz` runs many more.

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use remediator_core::classify::classify_line;
use remediator_core::decode::{decode_slice, decode_value, gzip_base64, DecodeError};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn repo_tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests")
}

fn config() -> Config {
    let cases = std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    Config {
        cases,
        // Relative to this file: tests/fuzz/regressions/<name>.txt at the workspace root.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(leak(
            repo_tests_dir()
                .join("fuzz/regressions/core.txt")
                .to_string_lossy()
                .into_owned(),
        )))),
        ..Config::default()
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Whole events: every recorded wire-format event and the fuzz corpus.
fn event_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let tests = repo_tests_dir();
        ["fixtures/events", "fixtures/manual", "fuzz/corpus"]
            .iter()
            .flat_map(|d| files_in(&tests.join(d)))
            .map(|p| std::fs::read(&p).unwrap())
            .collect()
    })
}

/// The readable CloudWatch Logs payloads the events were encoded from.
fn logs_payload_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        files_in(&repo_tests_dir().join("fixtures/sources"))
            .iter()
            .map(|p| std::fs::read(p).unwrap())
            .collect()
    })
}

fn corpus_lines() -> &'static [String] {
    static LINES: OnceLock<Vec<String>> = OnceLock::new();
    LINES.get_or_init(|| {
        std::fs::read_to_string(repo_tests_dir().join("fixtures/lines/corpus.tsv"))
            .unwrap()
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('\t').map(|(_, line)| line.to_owned()))
            .collect()
    })
}

/// One byte-level edit, as a coverage-blind fuzzer would make.
#[derive(Debug, Clone)]
enum Edit {
    Flip { at: usize, bit: u8 },
    Set { at: usize, byte: u8 },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    Truncate { at: usize },
    Duplicate { at: usize, len: usize },
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes that matter to JSON, base64 and the classifier's patterns.
    let interesting = prop::sample::select(vec![
        b'"', b'\\', b'{', b'}', b'[', b']', b':', b',', b'0', b'-', b'e', b'=', b'+', b'/', 0x00,
        0x7f, 0xc3, 0xff, b'\n',
    ]);
    prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Edit::Flip { at, bit }),
        (any::<usize>(), interesting).prop_map(|(at, byte)| Edit::Set { at, byte }),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        (any::<usize>(), 1usize..64).prop_map(|(at, len)| Edit::Delete { at, len }),
        any::<usize>().prop_map(|at| Edit::Truncate { at }),
        (any::<usize>(), 1usize..256).prop_map(|(at, len)| Edit::Duplicate { at, len }),
    ]
}

fn apply(mut bytes: Vec<u8>, edits: &[Edit]) -> Vec<u8> {
    for e in edits {
        let n = bytes.len().max(1);
        match e {
            Edit::Flip { at, bit } => {
                if let Some(b) = bytes.get_mut(at % n) {
                    *b ^= 1 << bit;
                }
            }
            Edit::Set { at, byte } => {
                if let Some(b) = bytes.get_mut(at % n) {
                    *b = *byte;
                }
            }
            Edit::Insert { at, bytes: new } => {
                let at = at % (bytes.len() + 1);
                bytes.splice(at..at, new.iter().copied());
            }
            Edit::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            Edit::Truncate { at } => bytes.truncate(at % n),
            Edit::Duplicate { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                let copy = bytes.get(at..end).unwrap_or_default().to_vec();
                bytes.splice(at..at, copy);
            }
        }
    }
    bytes
}

/// A refusal must say what was wrong: which part of the event, and a non-empty explanation.
fn assert_clear(e: &DecodeError) {
    let detail = match e {
        DecodeError::NotJson(d)
        | DecodeError::UnknownShape(d)
        | DecodeError::Logs(d)
        | DecodeError::Sns(d)
        | DecodeError::Alarm(d)
        | DecodeError::EventBridge(d)
        | DecodeError::Manual(d) => d.as_str(),
        DecodeError::NotAnObject(kind) => kind,
    };
    assert!(
        !detail.trim().is_empty() || matches!(e, DecodeError::UnknownShape(_)),
        "an error that does not say what was wrong: {e}"
    );
}

fn decode_bytes(bytes: &[u8]) {
    if let Err(e) = decode_slice(bytes) {
        assert_clear(&e);
    }
}

/// A JSON value of any type, small, for replacing a field.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path to a value in `v`, as indices into objects' keys and arrays.
fn paths(v: &Value, here: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(here.clone());
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                here.push(k.clone());
                paths(child, here, out);
                here.pop();
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                here.push(i.to_string());
                paths(child, here, out);
                here.pop();
            }
        }
        _ => {}
    }
}

fn replace_at(v: &mut Value, path: &[String], new: Value) {
    let mut at = v;
    for step in path {
        at = match at {
            Value::Object(map) => map.get_mut(step).expect("path from paths()"),
            Value::Array(items) => &mut items[step.parse::<usize>().expect("array index")],
            _ => unreachable!("paths() only descends into containers"),
        };
    }
    *at = new;
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        decode_bytes(&bytes);
    }

    #[test]
    fn mutated_events_never_panic(
        seed in prop::sample::select(event_seeds()),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        decode_bytes(&apply(seed.clone(), &edits));
    }

    /// Behind gzip and base64: mutations of the readable payload, re-encoded as CloudWatch does.
    #[test]
    fn mutated_logs_payloads_never_panic(
        seed in prop::sample::select(logs_payload_seeds()),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let inner = apply(seed.clone(), &edits);
        let event = serde_json::json!({"awslogs": {"data": gzip_base64(&inner)}});
        if let Err(e) = decode_value(event) {
            assert_clear(&e);
        }
    }

    /// Every field of every recorded event and manual payload, given a value of any other type.
    #[test]
    fn any_field_with_a_wrong_type_is_refused_clearly_or_accepted(
        seed in prop::sample::select(event_seeds()),
        pick in any::<prop::sample::Index>(),
        new in any_json(),
    ) {
        let Ok(mut value) = serde_json::from_slice::<Value>(&seed) else {
            return Ok(());
        };
        let mut all = Vec::new();
        paths(&value, &mut Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        replace_at(&mut value, &path, new);
        if let Err(e) = decode_value(value) {
            assert_clear(&e);
        }
    }

    #[test]
    fn arbitrary_lines_classify_without_panic(line in "\\PC{0,512}") {
        let _ = classify_line(&line);
    }

    #[test]
    fn mutated_corpus_lines_classify_without_panic(
        line in prop::sample::select(corpus_lines()),
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let bytes = apply(line.clone().into_bytes(), &edits);
        let _ = classify_line(&String::from_utf8_lossy(&bytes));
    }
}
