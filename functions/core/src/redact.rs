//! Redaction of secrets and personal data in anything that leaves the classifier as text.
//!
//! Covered: OAuth `code`, `state`, `nonce` and PKCE values; access, id and refresh tokens; JWTs;
//! client secrets; passwords; Authorization headers; cookies and session-token cookies; 11-digit
//! Norwegian national identity numbers. Redaction runs only on the few lines that become evidence
//! and on error texts, so it favours coverage over speed.

use regex::{Captures, Regex};
use std::borrow::Cow;
use std::sync::LazyLock;

/// What replaces a redacted value.
pub const MASK: &str = "[REDACTED]";

/// Names whose values are secret wherever they appear as `name=value` or `"name": "value"`.
const SECRET_NAMES: &str = r"access_token|id_token|refresh_token|client_secret|client_assertion|code_verifier|code_challenge|session_state|nonce|password|passwd|secret|api_key|apikey|x-api-key|token|code|state";

struct Rules {
    jwt: Regex,
    auth_header: Regex,
    cookie_header: Regex,
    session_cookie: Regex,
    query_param: Regex,
    quoted_field: Regex,
    bearer: Regex,
    national_id: Regex,
}

static RULES: LazyLock<Rules> = LazyLock::new(|| {
    Rules {
    jwt: Regex::new(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*").expect("jwt pattern"),
    auth_header: Regex::new(
        r#"(?i)(\b(?:proxy-)?authorization["']?\s*[:=]\s*["']?)(?:(bearer|basic|digest|dpop)\s+)?[^\s"',;}\]]+"#,
    )
    .expect("authorization pattern"),
    cookie_header: Regex::new(r#"(?i)(\b(?:set-)?cookie["']?\s*[:=]\s*["']?)[^"'\r\n}\]]+"#)
        .expect("cookie pattern"),
    session_cookie: Regex::new(
        r"(?i)(\b(?:__Secure-|__Host-)?(?:next-auth|authjs|connect\.sid|sid|session)[A-Za-z0-9_.-]*=)[^;\s&]+",
    )
    .expect("session cookie pattern"),
    query_param: Regex::new(&format!(r"(?i)(\b(?:{SECRET_NAMES})=)([^&\s'\x22<>;,]+)"))
        .expect("query pattern"),
    quoted_field: Regex::new(&format!(
        r#"(?i)(["']?\b(?:{SECRET_NAMES})["']?\s*:\s*)(["'])([^"']*)(["'])"#
    ))
    .expect("field pattern"),
    bearer: Regex::new(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{8,}").expect("bearer pattern"),
    national_id: Regex::new(r"(?:^|[^0-9])([0-9]{11})(?:[^0-9]|$)").expect("national id pattern"),
}
});

/// Returns `line` with every secret and personal number replaced by [`MASK`].
pub fn redact(line: &str) -> Cow<'_, str> {
    let r = &*RULES;
    let mut out: Cow<'_, str> = Cow::Borrowed(line);
    apply(&mut out, &r.jwt, |_| MASK.to_owned());
    apply(&mut out, &r.auth_header, |c| {
        let scheme = c
            .get(2)
            .map(|m| format!("{} ", m.as_str()))
            .unwrap_or_default();
        format!("{}{scheme}{MASK}", &c[1])
    });
    apply(&mut out, &r.cookie_header, |c| format!("{}{MASK}", &c[1]));
    apply(&mut out, &r.session_cookie, |c| format!("{}{MASK}", &c[1]));
    apply(&mut out, &r.query_param, |c| {
        if is_error_code(&c[2]) {
            c[0].to_owned()
        } else {
            format!("{}{MASK}", &c[1])
        }
    });
    apply(&mut out, &r.quoted_field, |c| {
        if is_error_code(&c[3]) || c[3].is_empty() {
            c[0].to_owned()
        } else {
            format!("{}{}{MASK}{}", &c[1], &c[2], &c[4])
        }
    });
    apply(&mut out, &r.bearer, |c| format!("{}{MASK}", &c[1]));
    redact_national_ids(&mut out, &r.national_id);
    out
}

/// `code: 'ECONNREFUSED'` and `state=SUCCEEDED` are diagnostics, not secrets: keep upper-case
/// identifiers and keep masks already applied.
fn is_error_code(value: &str) -> bool {
    value == MASK
        || (!value.is_empty()
            && value.len() <= 40
            && value
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            && value.as_bytes()[0].is_ascii_uppercase())
}

fn apply(text: &mut Cow<'_, str>, re: &Regex, rep: impl Fn(&Captures<'_>) -> String) {
    if re.is_match(text) {
        let replaced = re.replace_all(text, |c: &Captures<'_>| rep(c)).into_owned();
        *text = Cow::Owned(replaced);
    }
}

/// Eleven digits standing alone: the digit boundaries are checked by hand because the regex crate
/// has no look-around, and adjacent numbers must each be seen.
fn redact_national_ids(text: &mut Cow<'_, str>, re: &Regex) {
    if !re.is_match(text) {
        return;
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    let mut at = 0;
    while let Some(c) = re.captures_at(text, at) {
        let digits = c.get(1).expect("group 1 always takes part");
        out.push_str(&text[last..digits.start()]);
        out.push_str(MASK);
        last = digits.end();
        at = digits.end();
    }
    out.push_str(&text[last..]);
    *text = Cow::Owned(out);
}

/// At most `max` bytes of `s`, cut on a character boundary, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_redacted(input: &str, secret: &str) {
        let out = redact(input);
        assert!(!out.contains(secret), "{secret:?} survived in {out:?}");
        assert!(out.contains(MASK), "nothing masked in {out:?}");
    }

    #[test]
    fn oauth_query_values() {
        let line =
            "GET /api/auth/bankid/callback?code=8f14e45f-ceea-467f-a1b2&state=Zm9vYmFyYmF6 302";
        let out = redact(line);
        assert!(
            !out.contains("8f14e45f") && !out.contains("Zm9vYmFyYmF6"),
            "{out}"
        );
        assert!(out.contains("/api/auth/bankid/callback?code=[REDACTED]&state=[REDACTED] 302"));
    }

    #[test]
    fn tokens_in_json_and_js_objects() {
        assert_redacted(
            r#"{"access_token":"abc.def-123","token_type":"Bearer"}"#,
            "abc.def-123",
        );
        assert_redacted(
            "{ refresh_token: 'r3fr3sh-t0ken-value' }",
            "r3fr3sh-t0ken-value",
        );
        assert_redacted(
            "client_secret=s3cr3t-v4lue&grant_type=authorization_code",
            "s3cr3t-v4lue",
        );
        assert_redacted(r#""client_secret": "hunter2-hunter2""#, "hunter2-hunter2");
    }

    #[test]
    fn jwts_anywhere() {
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl";
        assert_redacted(&format!("id token {jwt} rejected"), jwt);
    }

    #[test]
    fn authorization_and_cookies() {
        let out = redact("Authorization: Basic Y2xpZW50OnNlY3JldA==");
        assert_eq!(out, "Authorization: Basic [REDACTED]");
        assert_redacted(
            "authorization: 'Bearer abcdefghijklmnop'",
            "abcdefghijklmnop",
        );
        assert_redacted(
            "cookie: next-auth.session-token=abc123def456; next-auth.csrf-token=zzz",
            "abc123def456",
        );
        assert_redacted(
            "set __Secure-authjs.session-token=tok3nvalue; Path=/",
            "tok3nvalue",
        );
    }

    #[test]
    fn national_identity_numbers_but_not_other_numbers() {
        let out = redact("user 01017012345 and 02029054321 failed at 1764849600000 (pid 12345)");
        assert!(
            !out.contains("01017012345") && !out.contains("02029054321"),
            "{out}"
        );
        assert!(
            out.contains("1764849600000") && out.contains("12345)"),
            "{out}"
        );
    }

    #[test]
    fn error_codes_are_kept() {
        let line = "code: 'ECONNREFUSED', errno: -111, state=SUCCEEDED";
        assert_eq!(redact(line), line);
        assert!(matches!(redact("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn truncate_respects_char_boundaries() {
        assert_eq!(truncate("blåbær", 3), "bl…");
        assert_eq!(truncate("short", 10), "short");
    }
}
