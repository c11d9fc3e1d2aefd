//! Secrets Manager: the BankID OAuth credentials, the source of truth for the fix.
//!
//! The secret is JSON `{"client_id", "client_secret", "callback_url"}`. Values go straight into
//! [`SecretString`]s; errors name what is wrong with the secret, never what it contains.

use crate::AdapterError;
use aws_sdk_secretsmanager::Client;
use remediator_core::remedy::BankidSecret;
use secrecy::SecretString;
use serde::Deserialize;

#[derive(Clone)]
pub struct Secrets {
    client: Client,
    secret_id: String,
}

#[derive(Deserialize)]
struct Raw {
    client_id: Option<String>,
    client_secret: Option<String>,
    callback_url: Option<String>,
}

impl Secrets {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Secrets {
            client,
            secret_id: secret_id.into(),
        }
    }

    pub async fn bankid(&self) -> Result<BankidSecret, AdapterError> {
        let out = self
            .client
            .get_secret_value()
            .secret_id(&self.secret_id)
            .send()
            .await
            .map_err(|e| AdapterError::from_sdk("Secrets Manager GetSecretValue", e))?;
        let text = out.secret_string.ok_or_else(|| {
            AdapterError::Permanent(format!(
                "secret {} has no SecretString (binary secrets are not supported)",
                self.secret_id
            ))
        })?;
        parse_bankid_secret(&self.secret_id, SecretString::from(text))
    }
}

/// Parses the secret's JSON. The text is dropped (and zeroed) as soon as it is parsed.
pub fn parse_bankid_secret(
    secret_id: &str,
    text: SecretString,
) -> Result<BankidSecret, AdapterError> {
    use secrecy::ExposeSecret;
    let raw: Raw = serde_json::from_str(text.expose_secret()).map_err(|e| {
        AdapterError::Permanent(format!(
            "secret {secret_id} is not JSON of the form {{\"client_id\", \"client_secret\", \"callback_url\"}} (error at line {} column {})",
            e.line(),
            e.column()
        ))
    })?;
    let field = |value: Option<String>, name: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| AdapterError::Permanent(format!("secret {secret_id} has no {name}")))
    };
    let callback_url = field(raw.callback_url, "callback_url")?;
    if !callback_url.starts_with("https://") {
        return Err(AdapterError::Permanent(format!(
            "secret {secret_id} has a callback_url that is not https://"
        )));
    }
    Ok(BankidSecret {
        client_id: SecretString::from(field(raw.client_id, "client_id")?),
        client_secret: SecretString::from(field(raw.client_secret, "client_secret")?),
        callback_url,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BankidSecret, AdapterError> {
        parse_bankid_secret("bankid/oauth", SecretString::from(text.to_owned()))
    }

    #[test]
    fn a_complete_secret_parses() {
        let s = parse(r#"{"client_id":"drop-prod","client_secret":"s3cr3t-value","callback_url":"https://getdrop.no/api/auth/bankid/callback"}"#).unwrap();
        assert_eq!(
            s.callback_url,
            "https://getdrop.no/api/auth/bankid/callback"
        );
        assert!(
            !format!("{:?}", s).contains("s3cr3t-value"),
            "Debug must not show the secret"
        );
    }

    #[test]
    fn bad_secrets_are_named_and_never_quoted() {
        for (text, expected) in [
            ("s3cr3t-value", "is not JSON"),
            (
                r#"{"client_id":"x","client_secret":"s3cr3t-value"}"#,
                "has no callback_url",
            ),
            (
                r#"{"client_id":"","client_secret":"s3cr3t-value","callback_url":"https://a"}"#,
                "has no client_id",
            ),
            (
                r#"{"client_id":"x","client_secret":"s3cr3t-value","callback_url":"http://a"}"#,
                "not https",
            ),
            (
                r#"{"client_id":"x","client_secret":7,"callback_url":"https://a"}"#,
                "is not JSON",
            ),
        ] {
            let e = parse(text).unwrap_err().to_string();
            assert!(e.contains(expected), "{e}");
            assert!(!e.contains("s3cr3t"), "{e}");
        }
    }
}
