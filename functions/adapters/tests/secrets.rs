//! The Secrets Manager adapter against the moto server, over the real SDK and HTTP.

use local_stack::Moto;
use remediator_adapters::secrets::Secrets;
use remediator_adapters::AdapterError;
use secrecy::ExposeSecret;

fn client(endpoint: &str) -> aws_sdk_secretsmanager::Client {
    local_stack::clients::secrets_manager(endpoint)
}

#[tokio::test]
async fn the_bankid_secret_is_read_and_bad_ones_are_refused_by_name() {
    let moto = Moto::start().expect("moto server");
    let client = client(&moto.endpoint);
    for (name, value) in [
        (
            "bankid/oauth",
            r#"{"client_id":"drop-prod","client_secret":"s3cr3t-value","callback_url":"https://getdrop.no/api/auth/bankid/callback"}"#,
        ),
        ("bankid/not-json", "s3cr3t-value"),
        (
            "bankid/partial",
            r#"{"client_id":"drop-prod","client_secret":"s3cr3t-value"}"#,
        ),
    ] {
        client
            .create_secret()
            .name(name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
    }

    let secret = Secrets::new(client.clone(), "bankid/oauth")
        .bankid()
        .await
        .unwrap();
    assert_eq!(secret.client_id.expose_secret(), "drop-prod");
    assert_eq!(secret.client_secret.expose_secret(), "s3cr3t-value");

    for (name, expected) in [
        ("bankid/not-json", "is not JSON"),
        ("bankid/partial", "has no callback_url"),
        ("bankid/missing", "ResourceNotFoundException"),
    ] {
        let e = Secrets::new(client.clone(), name)
            .bankid()
            .await
            .unwrap_err();
        assert!(
            matches!(&e, AdapterError::Permanent(m) if m.contains(expected)),
            "{name}: {e}"
        );
        assert!(!e.to_string().contains("s3cr3t"), "{e}");
    }
}

#[tokio::test]
async fn an_unreachable_secrets_manager_is_retryable() {
    let port = local_stack::free_port().unwrap();
    let e = Secrets::new(client(&format!("http://127.0.0.1:{port}")), "bankid/oauth")
        .bankid()
        .await
        .unwrap_err();
    assert!(e.retryable(), "{e}");
}
