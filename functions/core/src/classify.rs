//! Per-line classification: which cause, by which rule, if any.
//!
//! Every needle of every rule goes into one ASCII-case-insensitive Aho-Corasick automaton, so a
//! line is scanned once whatever the number of rules; the rules then only test bits. Lines with no
//! needle at all (most of a busy log group) cost one scan and nothing else.

use crate::cause::Cause;
use crate::rules::{Rule, Verdict, AUTH_CONTEXT, FAILURE_MARKERS, RULES, UNRECOGNISED_RULE};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use std::sync::LazyLock;

/// Needles beyond this would not fit the per-line bit set.
const MAX_NEEDLES: usize = 64 * WORDS;
const WORDS: usize = 8;

/// The verdict for one line.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LineMatch {
    pub cause: Cause,
    pub rule: &'static str,
    pub strength: f32,
}

/// The compiled rule table. Build once (see [`classifier`]) and share.
pub struct Classifier {
    automaton: AhoCorasick,
    needles: Vec<Needle>,
    rules: Vec<CompiledRule>,
    context: Vec<usize>,
    failure: Vec<usize>,
}

struct Needle {
    word_start: bool,
    word_end: bool,
}

struct CompiledRule {
    rule: &'static Rule,
    /// Lower-cased `any` needles of an anchored rule, tested against the line's start instead.
    prefixes: Vec<String>,
    any: Vec<usize>,
    and_any: Vec<usize>,
    unless: Vec<usize>,
}

#[derive(Default)]
struct Hits([u64; WORDS]);

impl Hits {
    fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn any(&self, ids: &[usize]) -> bool {
        ids.iter().any(|&i| self.has(i))
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

static CLASSIFIER: LazyLock<Classifier> = LazyLock::new(|| {
    Classifier::new(RULES).expect("the built-in rule table compiles (checked by tests)")
});

/// The classifier for the built-in rule table.
pub fn classifier() -> &'static Classifier {
    &CLASSIFIER
}

/// Classifies one line with the built-in rules.
pub fn classify_line(line: &str) -> Option<LineMatch> {
    CLASSIFIER.classify(line)
}

#[derive(Debug, thiserror::Error)]
pub enum RuleTableError {
    #[error("rule {0}: has no needles")]
    Empty(&'static str),
    #[error("the rule table has {0} distinct needles; at most {MAX_NEEDLES} fit")]
    TooManyNeedles(usize),
    #[error("rule ids must be unique: {0} repeats")]
    DuplicateId(&'static str),
    #[error("building the automaton: {0}")]
    Automaton(String),
}

impl Classifier {
    pub fn new(rules: &'static [Rule]) -> Result<Self, RuleTableError> {
        let mut patterns: Vec<String> = Vec::new();
        let mut needles: Vec<Needle> = Vec::new();
        let mut intern = |raw: &str| -> usize {
            let (word_start, body) = match raw.strip_prefix(r"\b") {
                Some(rest) => (true, rest),
                None => (false, raw),
            };
            let (word_end, body) = match body.strip_suffix(r"\b") {
                Some(rest) => (true, rest),
                None => (false, body),
            };
            let key = body.to_ascii_lowercase();
            if let Some(i) = patterns.iter().zip(&needles).position(|(p, n)| {
                *p == key && n.word_start == word_start && n.word_end == word_end
            }) {
                return i;
            }
            patterns.push(key);
            needles.push(Needle {
                word_start,
                word_end,
            });
            patterns.len() - 1
        };
        let context = AUTH_CONTEXT.iter().map(|n| intern(n)).collect();
        let failure = FAILURE_MARKERS.iter().map(|n| intern(n)).collect();
        let mut compiled = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            if rule.any.is_empty() {
                return Err(RuleTableError::Empty(rule.id));
            }
            if rules[..i].iter().any(|r| r.id == rule.id) || rule.id == UNRECOGNISED_RULE {
                return Err(RuleTableError::DuplicateId(rule.id));
            }
            let (prefixes, any) = if rule.anchored {
                (rule.any.iter().map(|n| n.to_ascii_lowercase()).collect(), Vec::new())
            } else {
                (Vec::new(), rule.any.iter().map(|n| intern(n)).collect())
            };
            compiled.push(CompiledRule {
                rule,
                prefixes,
                any,
                and_any: rule.and_any.iter().map(|n| intern(n)).collect(),
                unless: rule.unless.iter().map(|n| intern(n)).collect(),
            });
        }
        if patterns.len() > MAX_NEEDLES {
            return Err(RuleTableError::TooManyNeedles(patterns.len()));
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .map_err(|e| RuleTableError::Automaton(e.to_string()))?;
        Ok(Classifier {
            automaton,
            needles,
            rules: compiled,
            context,
            failure,
        })
    }

    /// The cause of one line, or `None` when the line is not a BankID failure.
    pub fn classify(&self, line: &str) -> Option<LineMatch> {
        let hits = self.scan(line);
        if hits.is_empty() {
            return None;
        }
        let in_context = hits.any(&self.context);
        for compiled in &self.rules {
            let rule = compiled.rule;
            let fired = if rule.anchored {
                starts_with_any(line, &compiled.prefixes)
            } else {
                hits.any(&compiled.any)
            };
            if !fired
                || (rule.needs_context && !in_context)
                || (!compiled.and_any.is_empty() && !hits.any(&compiled.and_any))
                || hits.any(&compiled.unless)
            {
                continue;
            }
            return match rule.verdict {
                Verdict::Cause(cause) => Some(LineMatch {
                    cause,
                    rule: rule.id,
                    strength: rule.strength,
                }),
                Verdict::NotBankId => None,
            };
        }
        if in_context && hits.any(&self.failure) {
            return Some(LineMatch {
                cause: Cause::Unknown,
                rule: UNRECOGNISED_RULE,
                strength: 0.5,
            });
        }
        None
    }

    fn scan(&self, line: &str) -> Hits {
        let mut hits = Hits::default();
        let bytes = line.as_bytes();
        for m in self.automaton.find_overlapping_iter(line) {
            let id = m.pattern().as_usize();
            if hits.has(id) {
                continue;
            }
            let needle = &self.needles[id];
            if needle.word_start && m.start() > 0 && is_word(bytes[m.start() - 1]) {
                continue;
            }
            if needle.word_end && m.end() < bytes.len() && is_word(bytes[m.end()]) {
                continue;
            }
            hits.set(id);
        }
        hits
    }
}

/// ASCII-case-insensitive prefix test after leading whitespace.
fn starts_with_any(line: &str, prefixes: &[String]) -> bool {
    let start = line.trim_start().as_bytes();
    prefixes
        .iter()
        .any(|p| start.len() >= p.len() && start[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_table_compiles() {
        Classifier::new(RULES).unwrap();
    }

    /// Every rule's own examples are its fixtures: each must be classified by that very rule.
    #[test]
    fn every_rule_matches_its_examples() {
        let c = classifier();
        for rule in RULES {
            assert!(!rule.examples.is_empty(), "rule {} has no examples", rule.id);
            for example in rule.examples {
                let got = c.classify(example);
                match rule.verdict {
                    Verdict::Cause(cause) => {
                        let got = got.unwrap_or_else(|| panic!("{}: no match for {example:?}", rule.id));
                        assert_eq!((got.rule, got.cause), (rule.id, cause), "{example:?}");
                    }
                    Verdict::NotBankId => assert_eq!(got, None, "{}: {example:?}", rule.id),
                }
            }
        }
    }

    #[test]
    fn word_boundaries_on_numbers() {
        assert_eq!(
            classify_line("POST https://auth.bankid.no/auth/realms/prod/protocol/openid-connect/token 429").map(|m| m.cause),
            Some(Cause::RateLimited)
        );
        assert_eq!(classify_line("bankid request id 14290 took 3 ms"), None);
    }

    #[test]
    fn plain_lines_are_not_classified() {
        for line in [
            "",
            "ready - started server on 0.0.0.0:3000",
            "GET /api/health 200 3ms",
            "Error: connect ECONNREFUSED 127.0.0.1:6379",
        ] {
            assert_eq!(classify_line(line), None, "{line:?}");
        }
    }

    #[test]
    fn a_bankid_failure_no_rule_knows_is_unknown() {
        let m = classify_line("BankID login failed: the frobnicator rejected the widget").unwrap();
        assert_eq!((m.cause, m.rule), (Cause::Unknown, UNRECOGNISED_RULE));
    }
}
