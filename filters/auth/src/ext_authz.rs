//! External authorization over HTTP, as the HTTP mode of Envoy's
//! `ext_authz`: the request's method, path and chosen headers go to a
//! service; a 2xx answer lets the request pass, any other answer goes back
//! to the client.

use crate::config::ExtAuthzConfig;
use meshwasm_core::{CallResponse, HeaderName, LocalResponse, OutboundCall};
use std::time::Duration;

/// The configured authorization service.
#[derive(Debug)]
pub struct ExtAuthz {
    config: ExtAuthzConfig,
    authority: String,
}

/// What the service decided.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The request passes, with these headers added for the upstream and
    /// this consumer, if the service named one.
    Allow {
        /// Headers for the upstream request.
        upstream_headers: Vec<(String, String)>,
        /// The consumer the service named.
        consumer: Option<String>,
    },
    /// The service's answer goes back to the client.
    Deny(LocalResponse),
    /// The service did not answer, or answered 5xx (Envoy reports a call
    /// that timed out as a 504): as Envoy's `ext_authz` does, this is an
    /// error, not a decision.
    Unavailable,
}

impl ExtAuthz {
    /// The service as configured.
    pub fn new(config: &ExtAuthzConfig) -> Self {
        Self {
            authority: config
                .authority
                .clone()
                .unwrap_or_else(|| config.cluster.clone()),
            config: config.clone(),
        }
    }

    /// Request headers the service is sent.
    pub fn request_headers(&self) -> &[HeaderName] {
        &self.config.allowed_request_headers
    }

    /// Headers of an allowing answer that are the filter's to set; clients'
    /// own copies are removed.
    pub fn upstream_headers(&self) -> &[HeaderName] {
        &self.config.allowed_upstream_headers
    }

    /// Whether a request passes when the service does not answer.
    pub fn failure_mode_allow(&self) -> bool {
        self.config.failure_mode_allow
    }

    /// The check request for a request with this method and path, and the
    /// allowed headers it carries. `path` is built by the caller with
    /// [`ExtAuthz::check_path`].
    pub fn call<'a>(
        &'a self,
        method: &'a str,
        path: &'a str,
        headers: &'a [(String, String)],
    ) -> OutboundCall<'a> {
        let mut all = vec![
            (":method", method),
            (":path", path),
            (":authority", self.authority.as_str()),
            ("content-length", "0"),
        ];
        all.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        OutboundCall {
            cluster: &self.config.cluster,
            headers: all,
            body: None,
            timeout: Duration::from_millis(u64::from(self.config.timeout_ms)),
        }
    }

    /// The path of the check request: the prefix, then the request's path.
    pub fn check_path(&self, path: &str) -> String {
        format!("{}{path}", self.config.path_prefix)
    }

    /// Reads the service's answer.
    pub fn verdict(&self, answer: &CallResponse) -> Verdict {
        let Some(status) = answer.status.filter(|s| *s < 500) else {
            return Verdict::Unavailable;
        };
        let pick = |allowed: &[HeaderName]| -> Vec<(String, String)> {
            answer
                .headers
                .iter()
                .filter(|(n, _)| allowed.iter().any(|a| a.as_str() == n))
                .cloned()
                .collect()
        };
        if (200..300).contains(&status) {
            let consumer = self
                .config
                .consumer_header
                .as_ref()
                .and_then(|h| answer.header(h.as_str()))
                .map(str::to_owned);
            return Verdict::Allow {
                upstream_headers: pick(&self.config.allowed_upstream_headers),
                consumer,
            };
        }
        Verdict::Deny(LocalResponse {
            status,
            headers: pick(&self.config.allowed_client_headers),
            body: answer.body.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authz() -> ExtAuthz {
        let config: ExtAuthzConfig = serde_json::from_str(
            r#"{"cluster": "authz", "path_prefix": "/check", "timeout_ms": 300,
                "allowed_upstream_headers": ["x-user"], "consumer_header": "x-user"}"#,
        )
        .unwrap();
        ExtAuthz::new(&config)
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> CallResponse {
        meshwasm_core::testing::answer(status, headers, body.as_bytes())
    }

    #[test]
    fn the_check_carries_method_path_and_headers() {
        let authz = authz();
        let path = authz.check_path("/orders?id=1");
        let headers = vec![("authorization".to_owned(), "Bearer t".to_owned())];
        let call = authz.call("POST", &path, &headers);
        assert_eq!(call.cluster, "authz");
        assert!(call.headers.contains(&(":path", "/check/orders?id=1")));
        assert!(call.headers.contains(&(":method", "POST")));
        assert!(call.headers.contains(&(":authority", "authz")));
        assert!(call.headers.contains(&("authorization", "Bearer t")));
        assert_eq!(call.timeout, Duration::from_millis(300));
        assert_eq!(authz.request_headers().len(), 2);
    }

    #[test]
    fn a_2xx_allows_and_copies_chosen_headers() {
        let verdict = authz().verdict(&answer(200, &[("x-user", "carol"), ("x-other", "1")], ""));
        assert_eq!(
            verdict,
            Verdict::Allow {
                upstream_headers: vec![("x-user".into(), "carol".into())],
                consumer: Some("carol".into()),
            }
        );
    }

    #[test]
    fn any_other_answer_goes_back_to_the_client() {
        let verdict = authz().verdict(&answer(
            302,
            &[
                ("location", "/login"),
                ("set-cookie", "a=b"),
                ("content-type", "text/plain"),
            ],
            "go",
        ));
        let Verdict::Deny(response) = verdict else {
            panic!("expected a denial");
        };
        assert_eq!(response.status, 302);
        assert_eq!(
            response.headers,
            [
                ("location".to_owned(), "/login".to_owned()),
                ("content-type".into(), "text/plain".into())
            ]
        );
        assert_eq!(response.body, b"go");
        assert_eq!(
            authz().verdict(&CallResponse::default()),
            Verdict::Unavailable
        );
    }
}
