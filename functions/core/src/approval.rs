//! Approval tokens for the demo-mode fallback: only a digest is stored, a token works once, and
//! every refusal says which rule it broke (never the token).

use sha2::{Digest, Sha256};
use std::fmt;

/// How long an approval request stays valid.
pub const TOKEN_TTL_MS: i64 = 30 * 60_000;

/// The hex SHA-256 of a token: what the incident keeps instead of the token.
pub fn token_digest(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Compares two digests in time independent of where they differ.
pub fn digests_equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Why an approval was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalRefusal {
    /// No approval was asked for in this incident.
    NotRequested,
    /// Not the token that was sent for this incident.
    Wrong,
    /// The token was already used, or replaced by a newer request.
    Reused,
    Expired,
    /// The incident is resolved.
    Closed,
}

impl fmt::Display for ApprovalRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ApprovalRefusal::NotRequested => "no fallback approval was requested in this incident",
            ApprovalRefusal::Wrong => "the token is not the one sent for this incident",
            ApprovalRefusal::Reused => "the token was already used or replaced",
            ApprovalRefusal::Expired => "the token has expired (tokens last 30 minutes)",
            ApprovalRefusal::Closed => "the incident is resolved",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_stable_hex_and_ignore_surrounding_space() {
        let d = token_digest("abc");
        assert_eq!(
            d,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(token_digest(" abc\n"), d);
        assert!(digests_equal(&d, &token_digest("abc")));
        assert!(!digests_equal(&d, &token_digest("abd")));
        assert!(!digests_equal(&d, "ba78"));
    }
}
