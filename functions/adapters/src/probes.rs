//! Probes from where the remediator runs: the runbook's step 4 and its network checks.
//!
//! - [`Probes::discovery`]: BankID's discovery document and JWKS are reachable and valid.
//! - [`Probes::initiate`]: the app's `POST /api/auth/bankid/initiate` answers a redirect to
//!   BankID's authorize endpoint with a `state` and the expected `redirect_uri` (not followed).
//! - [`Probes::network`]: DNS, TCP, TLS and HTTP towards the issuer, each reported on its own.
//!
//! Every request has a strict timeout; a probe never fails the invocation, it reports.

use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Each step's limit: BankID answers in well under a second when healthy.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(3);

/// One probe's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub millis: u64,
}

/// What the discovery probe learnt, for the initiate probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub authorization_endpoint: String,
}

#[derive(Clone)]
pub struct Probes {
    http: reqwest::Client,
    issuer: String,
    app_base_url: String,
    expected_callback: String,
}

impl Probes {
    pub fn new(issuer: &str, app_base_url: &str, expected_callback: &str) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(STEP_TIMEOUT)
            .connect_timeout(STEP_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("bankid-remediator-probe")
            .build()
            .map_err(|e| format!("probe HTTP client: {e}"))?;
        Ok(Probes {
            http,
            issuer: issuer.trim_end_matches('/').to_owned(),
            app_base_url: app_base_url.trim_end_matches('/').to_owned(),
            expected_callback: expected_callback.to_owned(),
        })
    }

    /// Discovery document, then its JWKS.
    pub async fn discovery(&self) -> (Vec<ProbeResult>, Option<Discovered>) {
        let started = Instant::now();
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let doc = match self.get_json(&url).await {
            Ok(doc) => doc,
            Err(detail) => return (vec![result("discovery", false, detail, started)], None),
        };
        let field = |name: &str| doc.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let missing: Vec<&str> = [
            "issuer",
            "authorization_endpoint",
            "token_endpoint",
            "jwks_uri",
        ]
        .into_iter()
        .filter(|f| field(f).is_none())
        .collect();
        if !missing.is_empty() {
            let detail = format!("discovery document lacks {}", missing.join(", "));
            return (vec![result("discovery", false, detail, started)], None);
        }
        if field("issuer").as_deref() != Some(self.issuer.as_str()) {
            let detail = format!(
                "discovery names issuer {:?}, expected {:?}",
                field("issuer").unwrap_or_default(),
                self.issuer
            );
            return (vec![result("discovery", false, detail, started)], None);
        }
        let discovered = Discovered {
            authorization_endpoint: field("authorization_endpoint").unwrap_or_default(),
        };
        let mut results = vec![result(
            "discovery",
            true,
            "valid discovery document".into(),
            started,
        )];
        let started = Instant::now();
        let jwks = match self.get_json(&field("jwks_uri").unwrap_or_default()).await {
            Ok(jwks)
                if jwks
                    .get("keys")
                    .and_then(|k| k.as_array())
                    .is_some_and(|k| !k.is_empty()) =>
            {
                result("jwks", true, "signing keys published".into(), started)
            }
            Ok(_) => result("jwks", false, "JWKS has no keys".into(), started),
            Err(detail) => result("jwks", false, detail, started),
        };
        results.push(jwks);
        (results, Some(discovered))
    }

    /// The app's login start: a redirect to BankID with a state and the expected callback.
    pub async fn initiate(&self, discovered: &Discovered) -> ProbeResult {
        let started = Instant::now();
        let url = format!("{}/api/auth/bankid/initiate", self.app_base_url);
        let response = match self
            .http
            .post(&url)
            .header("content-type", "application/json")
            .body(r#"{"redirectUrl":"/dashboard"}"#)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return result("initiate", false, describe(&e), started),
        };
        let status = response.status();
        if !status.is_redirection() {
            let hint = if status.as_u16() == 500 {
                " (runbook: check BANKID_CLIENT_ID and BANKID_CALLBACK_URL)"
            } else {
                ""
            };
            return result(
                "initiate",
                false,
                format!("answered {status}, expected a redirect to BankID{hint}"),
                started,
            );
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let Ok(target) = reqwest::Url::parse(&location) else {
            return result(
                "initiate",
                false,
                "redirect without an absolute Location".into(),
                started,
            );
        };
        let endpoint = target.as_str().split('?').next().unwrap_or_default();
        if endpoint != discovered.authorization_endpoint {
            return result(
                "initiate",
                false,
                format!("redirects to {endpoint}, not BankID's authorize endpoint"),
                started,
            );
        }
        let param = |name: &str| {
            target
                .query_pairs()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.into_owned())
        };
        if param("state").is_none_or(|s| s.is_empty()) {
            return result(
                "initiate",
                false,
                "the redirect carries no state".into(),
                started,
            );
        }
        match param("redirect_uri") {
            Some(uri) if uri == self.expected_callback => result(
                "initiate",
                true,
                "redirects to BankID with a state and the expected callback".into(),
                started,
            ),
            Some(uri) => result(
                "initiate",
                false,
                format!("redirect_uri is {uri}, expected {}", self.expected_callback),
                started,
            ),
            None => result(
                "initiate",
                false,
                "the redirect carries no redirect_uri".into(),
                started,
            ),
        }
    }

    /// The runbook's synthetic login test: discovery, JWKS, then the app's initiate redirect.
    pub async fn login_check(&self) -> Vec<ProbeResult> {
        let (mut results, discovered) = self.discovery().await;
        if let Some(discovered) = discovered {
            results.push(self.initiate(&discovered).await);
        }
        results
    }

    /// DNS, TCP, TLS, HTTP towards the issuer's host, each step reported; stops at the first failure.
    pub async fn network(&self) -> Vec<ProbeResult> {
        let mut results = Vec::new();
        let Ok(url) = reqwest::Url::parse(&self.issuer) else {
            return vec![result(
                "dns",
                false,
                "BANKID_ISSUER is not a URL".into(),
                Instant::now(),
            )];
        };
        let host = url.host_str().unwrap_or_default().to_owned();
        let port = url.port_or_known_default().unwrap_or(443);

        let started = Instant::now();
        let addrs: Vec<std::net::SocketAddr> = match tokio::time::timeout(
            STEP_TIMEOUT,
            tokio::net::lookup_host((host.as_str(), port)),
        )
        .await
        {
            Ok(Ok(addrs)) => addrs.collect(),
            Ok(Err(e)) => {
                results.push(result("dns", false, format!("{host}: {e}"), started));
                return results;
            }
            Err(_) => {
                results.push(result(
                    "dns",
                    false,
                    format!("{host}: no answer in {STEP_TIMEOUT:?}"),
                    started,
                ));
                return results;
            }
        };
        let Some(addr) = addrs.first().copied() else {
            results.push(result(
                "dns",
                false,
                format!("{host}: no addresses"),
                started,
            ));
            return results;
        };
        results.push(result(
            "dns",
            true,
            format!("{host} resolves to {addr}"),
            started,
        ));

        let started = Instant::now();
        let stream =
            match tokio::time::timeout(STEP_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    results.push(result("tcp", false, format!("{addr}: {e}"), started));
                    return results;
                }
                Err(_) => {
                    results.push(result(
                        "tcp",
                        false,
                        format!("{addr}: no connection in {STEP_TIMEOUT:?}"),
                        started,
                    ));
                    return results;
                }
            };
        results.push(result("tcp", true, format!("connected to {addr}"), started));

        if url.scheme() == "https" {
            let started = Instant::now();
            match tls_handshake(stream, &host).await {
                Ok(()) => results.push(result(
                    "tls",
                    true,
                    format!("certificate valid for {host}"),
                    started,
                )),
                Err(detail) => {
                    results.push(result("tls", false, detail, started));
                    return results;
                }
            }
        } else {
            drop(stream);
        }

        let started = Instant::now();
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        results.push(match self.http.get(&url).send().await {
            Ok(r) if r.status().is_success() => result(
                "http",
                true,
                format!("discovery answered {}", r.status()),
                started,
            ),
            Ok(r) => result(
                "http",
                false,
                format!("discovery answered {}", r.status()),
                started,
            ),
            Err(e) => result("http", false, describe(&e), started),
        });
        results
    }

    async fn get_json(&self, url: &str) -> Result<serde_json::Value, String> {
        let response = self.http.get(url).send().await.map_err(|e| describe(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(format!("{url} answered {status}"));
        }
        let body = response.bytes().await.map_err(|e| describe(&e))?;
        serde_json::from_slice(&body).map_err(|_| format!("{url} did not answer JSON"))
    }
}

async fn tls_handshake(stream: tokio::net::TcpStream, host: &str) -> Result<(), String> {
    use rustls_platform_verifier::ConfigVerifierExt;
    let config =
        rustls::ClientConfig::with_platform_verifier().map_err(|e| format!("TLS setup: {e}"))?;
    let name = rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host}: {e}"))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    match tokio::time::timeout(STEP_TIMEOUT, connector.connect(name, stream)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(format!("TLS handshake with {host}: {e}")),
        Err(_) => Err(format!(
            "TLS handshake with {host}: no answer in {STEP_TIMEOUT:?}"
        )),
    }
}

fn describe(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_decode() {
        "unreadable answer"
    } else {
        "request failed"
    };
    let url = e
        .url()
        .map(|u| u.as_str().split('?').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    format!("{url}: {what}")
}

fn result(name: &'static str, ok: bool, detail: String, started: Instant) -> ProbeResult {
    ProbeResult {
        name,
        ok,
        detail,
        millis: started.elapsed().as_millis() as u64,
    }
}
