//! The labelled corpus, line by line, against the built-in rule table.

use remediator_core::classify::classify_line;
use remediator_core::Cause;
use remediator_tests::corpus;
use std::collections::BTreeMap;

#[test]
fn every_corpus_line_gets_its_label() {
    let mut wrong = Vec::new();
    for entry in corpus() {
        let got = classify_line(&entry.line).map_or("none", |m| m.cause.id());
        if got != entry.label {
            wrong.push(format!(
                "corpus.tsv:{}: expected {}, got {got}: {}",
                entry.file_line, entry.label, entry.line
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} lines misclassified:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn the_corpus_covers_every_cause_and_the_lines_that_must_not_raise_one() {
    let entries = corpus();
    assert!(entries.len() >= 80, "only {} labelled lines", entries.len());
    let mut per_label: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &entries {
        if e.label != "none" {
            e.label
                .parse::<Cause>()
                .unwrap_or_else(|err| panic!("corpus.tsv:{}: {err}", e.file_line));
        }
        *per_label.entry(e.label.as_str()).or_default() += 1;
    }
    for label in Cause::ALL.iter().map(|c| c.id()).chain(["none"]) {
        let n = per_label.get(label).copied().unwrap_or(0);
        assert!(n >= 10, "{label} has only {n} corpus lines");
    }
}

/// The library families the classifier is built for must stay in the corpus, so it cannot quietly lose one.
#[test]
fn the_corpus_holds_each_library_family() {
    let text: String = corpus().into_iter().map(|e| e.line + "\n").collect();
    for family in [
        "OPError",
        "RPError",
        "checks.state",
        "[next-auth][error]",
        "[auth][error] CallbackRouteError",
        "InvalidCheck",
        "OAuthCallbackError",
        "\"error\":\"invalid_client\"",
        "429",
        "503",
        "ECONNREFUSED",
        "ETIMEDOUT",
        "ENOTFOUND",
        "EAI_AGAIN",
        "ECONNRESET",
        "UND_ERR_CONNECT_TIMEOUT",
        "fetch failed",
        "access_denied",
        "Invalid state parameter",
        "Authentication service unavailable",
    ] {
        assert!(text.contains(family), "no corpus line contains {family:?}");
    }
}

/// The metric filters count what the classifier would call the same cause: each cause's terms
/// occur in lines labelled with that cause and never in a line labelled with another.
#[test]
fn metric_filter_terms_agree_with_the_labels() {
    use remediator_core::filters::{metric_terms, CALLBACK_FAILURE_TERMS};
    let corpus = corpus();
    for cause in Cause::ALL {
        for term in metric_terms(cause) {
            let hits: Vec<_> = corpus.iter().filter(|e| e.line.contains(term)).collect();
            assert!(
                hits.iter().any(|e| e.label == cause.id()),
                "{term} ({cause}) occurs in no {cause} line of the corpus"
            );
            for e in &hits {
                assert!(
                    e.label == cause.id() || e.label == "none",
                    "{term} ({cause}) also counts corpus.tsv:{} labelled {}",
                    e.file_line,
                    e.label
                );
            }
        }
    }
    for term in CALLBACK_FAILURE_TERMS {
        assert!(
            corpus
                .iter()
                .any(|e| e.line.contains(term) && e.label != "none"),
            "{term} occurs in no failing line of the corpus"
        );
    }
}
