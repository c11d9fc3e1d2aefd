//! A stand-in for BankID's OIDC endpoints and the app's login start, on loopback, that a test
//! or the demo can switch between healthy and an outage.
//!
//! - `GET /auth/realms/prod/.well-known/openid-configuration` and `…/protocol/openid-connect/certs`:
//!   a Keycloak-shaped discovery document and JWKS, or `503` during an outage.
//! - `POST /api/auth/bankid/initiate`: `302` to the authorize endpoint with a `state` and the
//!   expected `redirect_uri`, as the app does.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct BankidStandIn {
    pub port: u16,
    up: Arc<AtomicBool>,
}

impl BankidStandIn {
    /// Serves on a free loopback port until the runtime ends.
    pub async fn start(callback: &'static str) -> Result<BankidStandIn, String> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("BankID stand-in: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("BankID stand-in: {e}"))?
            .port();
        let up = Arc::new(AtomicBool::new(true));
        let serving = up.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let up = serving.clone();
                tokio::spawn(async move {
                    let service =
                        hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                            let answer = route(
                                req.method().as_str(),
                                req.uri().path(),
                                port,
                                up.load(Ordering::SeqCst),
                                callback,
                            );
                            async move { Ok::<_, std::convert::Infallible>(answer) }
                        });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(BankidStandIn { port, up })
    }

    /// The issuer URL the remediator's `BANKID_ISSUER` points at.
    pub fn issuer(&self) -> String {
        format!("http://127.0.0.1:{}/auth/realms/prod", self.port)
    }

    /// The app's base URL (`APP_BASE_URL`).
    pub fn app(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// BankID answers (true) or fails with 503 (false).
    pub fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }
}

fn route(method: &str, path: &str, port: u16, up: bool, callback: &str) -> Response<Full<Bytes>> {
    let issuer = format!("http://127.0.0.1:{port}/auth/realms/prod");
    let (status, location, body) = match (method, path) {
        ("GET", p) if p.starts_with("/auth/realms/prod/") && !up => (
            503,
            None,
            r#"{"error":"temporarily_unavailable","error_description":"Authentication service unavailable"}"#.to_owned(),
        ),
        ("GET", "/auth/realms/prod/.well-known/openid-configuration") => (
            200,
            None,
            serde_json::json!({
                "issuer": issuer,
                "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
                "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
                "jwks_uri": format!("{issuer}/protocol/openid-connect/certs"),
            })
            .to_string(),
        ),
        ("GET", "/auth/realms/prod/protocol/openid-connect/certs") => (
            200,
            None,
            r#"{"keys":[{"kid":"stand-in","kty":"RSA","use":"sig","alg":"RS256","n":"AQAB","e":"AQAB"}]}"#.to_owned(),
        ),
        ("POST", "/api/auth/bankid/initiate") => {
            let encoded: String = callback
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            (
                302,
                Some(format!(
                    "{issuer}/protocol/openid-connect/auth?client_id=drop-prod&response_type=code&scope=openid&state=c3RhbmQtaW4&redirect_uri={encoded}"
                )),
                String::new(),
            )
        }
        _ => (404, None, "not found".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    if let Some(location) = location {
        if let Ok(value) = location.parse() {
            response.headers_mut().insert("location", value);
        }
    }
    response
}
