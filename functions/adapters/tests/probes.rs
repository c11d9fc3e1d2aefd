//! Probes against stand-ins for BankID and the app on loopback.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use remediator_adapters::probes::Probes;
use std::sync::Arc;

const CALLBACK: &str = "https://getdrop.no/api/auth/bankid/callback";

/// What the stand-in answers: (status, location, body) per (method, path).
type Routes = Arc<dyn Fn(&str, &str, u16) -> (u16, Option<String>, String) + Send + Sync>;

async fn serve(routes: Routes) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let routes = routes.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let (status, location, body) =
                            routes(req.method().as_str(), req.uri().path(), port);
                        async move {
                            let mut response = Response::new(Full::new(Bytes::from(body)));
                            *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
                            if let Some(location) = location {
                                response
                                    .headers_mut()
                                    .insert("location", location.parse().unwrap());
                            }
                            Ok::<_, std::convert::Infallible>(response)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

fn bankid_and_app(initiate: fn(u16) -> (u16, Option<String>)) -> Routes {
    Arc::new(move |method, path, port| {
        let issuer = format!("http://localhost:{port}/auth/realms/prod");
        match (method, path) {
            ("GET", "/auth/realms/prod/.well-known/openid-configuration") => (
                200,
                None,
                format!(
                    r#"{{"issuer":"{issuer}","authorization_endpoint":"{issuer}/protocol/openid-connect/auth","token_endpoint":"{issuer}/protocol/openid-connect/token","jwks_uri":"{issuer}/protocol/openid-connect/certs"}}"#
                ),
            ),
            ("GET", "/auth/realms/prod/protocol/openid-connect/certs") => {
                (200, None, r#"{"keys":[{"kid":"k1","kty":"RSA"}]}"#.into())
            }
            ("POST", "/api/auth/bankid/initiate") => {
                let (status, location) = initiate(port);
                (status, location, String::new())
            }
            _ => (404, None, "not found".into()),
        }
    })
}

fn good_redirect(port: u16) -> (u16, Option<String>) {
    (302, Some(format!(
        "http://localhost:{port}/auth/realms/prod/protocol/openid-connect/auth?client_id=drop-prod&response_type=code&scope=openid&state=Zm9v&redirect_uri={}",
        urlencode(CALLBACK)
    )))
}

fn urlencode(s: &str) -> String {
    s.replace(':', "%3A").replace('/', "%2F")
}

#[tokio::test]
async fn a_healthy_bankid_and_app_pass_every_probe() {
    let port = serve(bankid_and_app(good_redirect)).await;
    let base = format!("http://localhost:{port}");
    let probes = Probes::new(&format!("{base}/auth/realms/prod"), &base, CALLBACK).unwrap();
    let (results, discovered) = probes.discovery().await;
    assert!(results.iter().all(|r| r.ok), "{results:?}");
    assert_eq!(results.len(), 2);
    let initiate = probes.initiate(&discovered.unwrap()).await;
    assert!(initiate.ok, "{initiate:?}");
    let network = probes.network().await;
    let steps: Vec<(&str, bool)> = network.iter().map(|r| (r.name, r.ok)).collect();
    assert_eq!(steps, vec![("dns", true), ("tcp", true), ("http", true)]);
}

#[tokio::test]
async fn a_wrong_callback_or_a_500_is_named() {
    let port = serve(bankid_and_app(|port| {
        (302, Some(format!("http://localhost:{port}/auth/realms/prod/protocol/openid-connect/auth?state=Zm9v&redirect_uri=https%3A%2F%2Fold.getdrop.no%2Fcb")))
    }))
    .await;
    let base = format!("http://localhost:{port}");
    let probes = Probes::new(&format!("{base}/auth/realms/prod"), &base, CALLBACK).unwrap();
    let (_, discovered) = probes.discovery().await;
    let r = probes.initiate(&discovered.clone().unwrap()).await;
    assert!(
        !r.ok
            && r.detail
                .contains("redirect_uri is https://old.getdrop.no/cb"),
        "{r:?}"
    );

    let port = serve(bankid_and_app(|_| (500, None))).await;
    let base = format!("http://localhost:{port}");
    let probes = Probes::new(&format!("{base}/auth/realms/prod"), &base, CALLBACK).unwrap();
    let (_, discovered) = probes.discovery().await;
    let r = probes.initiate(&discovered.unwrap()).await;
    assert!(!r.ok && r.detail.contains("BANKID_CLIENT_ID"), "{r:?}");
}

#[tokio::test]
async fn an_outage_and_an_unreachable_issuer_are_reported_step_by_step() {
    let port = serve(Arc::new(|_, _, _| {
        (503, None, "Service Unavailable".into())
    }))
    .await;
    let issuer = format!("http://localhost:{port}/auth/realms/prod");
    let probes = Probes::new(&issuer, "http://localhost:1", CALLBACK).unwrap();
    let (results, discovered) = probes.discovery().await;
    assert!(discovered.is_none());
    assert!(
        !results[0].ok && results[0].detail.contains("503"),
        "{results:?}"
    );
    let network = probes.network().await;
    assert_eq!(
        network.last().map(|r| (r.name, r.ok)),
        Some(("http", false))
    );

    let closed = local_stack::free_port().unwrap();
    let probes = Probes::new(
        &format!("http://localhost:{closed}/auth/realms/prod"),
        "http://localhost:1",
        CALLBACK,
    )
    .unwrap();
    let network = probes.network().await;
    let steps: Vec<(&str, bool)> = network.iter().map(|r| (r.name, r.ok)).collect();
    assert_eq!(steps, vec![("dns", true), ("tcp", false)]);

    // TLS towards something that does not speak it fails at the TLS step, not later.
    let plain = serve(bankid_and_app(good_redirect)).await;
    let probes = Probes::new(
        &format!("https://localhost:{plain}/auth/realms/prod"),
        "http://localhost:1",
        CALLBACK,
    )
    .unwrap();
    let network = probes.network().await;
    let steps: Vec<(&str, bool)> = network.iter().map(|r| (r.name, r.ok)).collect();
    assert_eq!(
        steps,
        vec![("dns", true), ("tcp", true), ("tls", false)],
        "{network:?}"
    );
}
