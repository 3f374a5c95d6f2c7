//! A test ratelimit service for real Envoy: the gRPC `envoy.service.ratelimit.v3.RateLimitService`
//! on 127.0.0.1, recording every `ShouldRateLimit` request (domain and descriptors) and answering
//! `OK`, plus [`lookup`], the envoyproxy/ratelimit service's rules for finding a descriptor's
//! limit in a config file.
//!
//! Why a fake: the envoyproxy/ratelimit service is a Go program with a Redis behind it, neither
//! of which can be had here. What the data-plane tests need from it is the other side of Envoy's
//! call — which descriptors Envoy sends — and that is the real API (the protobuf types come from
//! the `envoy-types` crate, the server from tonic). The lookup follows the service's
//! `GetLimit` (`src/config/config_impl.go`): at each level of the descriptor, the entry whose
//! key and value match exactly, else one whose value ends in `*` and is a prefix of the value
//! (a wildcard), else one with the key and no value (the key's default); the limit is the one of
//! the node the last entry reached, if it has one.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_response::Code;
use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_server::{
    RateLimitService, RateLimitServiceServer,
};
use envoy_types::pb::envoy::service::ratelimit::v3::{RateLimitRequest, RateLimitResponse};
use serde_json::Value;
use tokio::sync::oneshot;

/// One `ShouldRateLimit` call as Envoy made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// `domain`: the filter's.
    pub domain: String,
    /// `descriptors`: each a list of (key, value) entries, in Envoy's order.
    pub descriptors: Vec<Vec<(String, String)>>,
}

#[derive(Default)]
struct Recorder {
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

#[tonic::async_trait]
impl RateLimitService for Recorder {
    async fn should_rate_limit(
        &self,
        request: tonic::Request<RateLimitRequest>,
    ) -> Result<tonic::Response<RateLimitResponse>, tonic::Status> {
        let request = request.into_inner();
        let descriptors = request
            .descriptors
            .iter()
            .map(|d| {
                d.entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.clone()))
                    .collect()
            })
            .collect();
        self.requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(RecordedRequest {
                domain: request.domain,
                descriptors,
            });
        Ok(tonic::Response::new(RateLimitResponse {
            overall_code: Code::Ok as i32,
            ..RateLimitResponse::default()
        }))
    }
}

/// The service, serving on 127.0.0.1 until dropped.
pub struct RateLimitServiceFake {
    port: u16,
    requests: Arc<Mutex<Vec<RecordedRequest>>>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
}

impl RateLimitServiceFake {
    /// Starts it on a free port of 127.0.0.1 (HTTP/2 without TLS, as Envoy's gRPC client speaks
    /// to a cluster with `http2_protocol_options`).
    pub fn start() -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let recorder = Recorder::default();
        let requests = Arc::clone(&recorder.requests);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let server = std::thread::spawn(move || {
            runtime.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a non-blocking listener");
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let served = tonic::transport::Server::builder()
                    .add_service(RateLimitServiceServer::new(recorder))
                    .serve_with_incoming_shutdown(incoming, async {
                        let _ = stopped.await;
                    })
                    .await;
                if let Err(error) = served {
                    eprintln!("test ratelimit service: {error}");
                }
            });
        });
        Ok(Self {
            port,
            requests,
            shutdown: Some(shutdown),
            server: Some(server),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every request so far, in arrival order, and forgets them.
    pub fn take(&self) -> Vec<RecordedRequest> {
        std::mem::take(&mut *self.requests.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for RateLimitServiceFake {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

/// The limit the ratelimit service applies to `descriptor` under `config` (a ratelimit config
/// file as JSON: `{domain, descriptors: [...]}`): the node reached and its `rate_limit`, or
/// `None` when no entry matches (the service then does not limit the request).
///
/// Returns the values of the nodes matched on the way (an exact value, the wildcard pattern,
/// or `""` for a key's default), and the `rate_limit` object of the last one, if any.
pub fn lookup(config: &Value, descriptor: &[(String, String)]) -> Option<(Vec<String>, Value)> {
    let mut level = config["descriptors"].as_array()?;
    let mut path = Vec::new();
    let mut node = None;
    for (key, value) in descriptor {
        let with_key = || level.iter().filter(move |d| d["key"] == key.as_str());
        let exact = with_key().find(|d| d["value"].as_str() == Some(value.as_str()));
        let wildcard = || {
            with_key().find(|d| {
                d["value"].as_str().is_some_and(|pattern| {
                    pattern
                        .strip_suffix('*')
                        .is_some_and(|prefix| value.starts_with(prefix))
                })
            })
        };
        let default = || with_key().find(|d| d.get("value").is_none_or(|v| v.is_null() || v == ""));
        let found = exact.or_else(wildcard).or_else(default)?;
        path.push(found["value"].as_str().unwrap_or("").to_owned());
        level = match found["descriptors"].as_array() {
            Some(children) => children,
            None => &EMPTY,
        };
        node = Some(found);
    }
    let limit = node?.get("rate_limit")?.clone();
    Some((path, limit))
}

static EMPTY: Vec<Value> = Vec::new();

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entries(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn exact_then_wildcard_then_the_keys_default() {
        let config = json!({
            "domain": "d",
            "descriptors": [
                {"key": "PARTNER", "value": "111", "descriptors": [
                    {"key": "PATH", "value": "/a", "rate_limit": {"unit": "minute", "requests_per_unit": 10}},
                    {"key": "PATH", "value": "/a*", "rate_limit": {"unit": "minute", "requests_per_unit": 20}},
                    {"key": "PATH", "rate_limit": {"unit": "minute", "requests_per_unit": 30}},
                ]},
                {"key": "PARTNER", "value": "222"},
            ],
        });
        let limit = |pairs: &[(&str, &str)]| {
            lookup(&config, &entries(pairs))
                .map(|(path, limit)| (path, limit["requests_per_unit"].clone()))
        };
        assert_eq!(
            limit(&[("PARTNER", "111"), ("PATH", "/a")]),
            Some((vec!["111".into(), "/a".into()], json!(10)))
        );
        assert_eq!(
            limit(&[("PARTNER", "111"), ("PATH", "/ab")]),
            Some((vec!["111".into(), "/a*".into()], json!(20)))
        );
        assert_eq!(
            limit(&[("PARTNER", "111"), ("PATH", "/b")]),
            Some((vec!["111".into(), String::new()], json!(30)))
        );
        // A partner without limits of its own, an unknown partner, a shallower descriptor.
        assert_eq!(limit(&[("PARTNER", "222"), ("PATH", "/a")]), None);
        assert_eq!(limit(&[("PARTNER", "999"), ("PATH", "/a")]), None);
        assert_eq!(limit(&[("PARTNER", "111")]), None);
    }

    #[test]
    fn the_service_records_what_a_grpc_client_asks() {
        use envoy_types::pb::envoy::extensions::common::ratelimit::v3::RateLimitDescriptor;
        use envoy_types::pb::envoy::extensions::common::ratelimit::v3::rate_limit_descriptor::Entry;
        use envoy_types::pb::envoy::service::ratelimit::v3::rate_limit_service_client::RateLimitServiceClient;

        let fake = RateLimitServiceFake::start().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let answer = runtime.block_on(async {
            let mut client =
                RateLimitServiceClient::connect(format!("http://127.0.0.1:{}", fake.port()))
                    .await
                    .unwrap();
            client
                .should_rate_limit(RateLimitRequest {
                    domain: "global-ratelimit".into(),
                    descriptors: vec![RateLimitDescriptor {
                        entries: vec![
                            Entry {
                                key: "PARTNER".into(),
                                value: "111".into(),
                            },
                            Entry {
                                key: "PATH".into(),
                                value: "/a".into(),
                            },
                        ],
                        ..RateLimitDescriptor::default()
                    }],
                    ..RateLimitRequest::default()
                })
                .await
                .unwrap()
                .into_inner()
        });
        assert_eq!(answer.overall_code, Code::Ok as i32);
        assert_eq!(
            fake.take(),
            [RecordedRequest {
                domain: "global-ratelimit".into(),
                descriptors: vec![entries(&[("PARTNER", "111"), ("PATH", "/a")])],
            }]
        );
        assert!(fake.take().is_empty());
    }
}
