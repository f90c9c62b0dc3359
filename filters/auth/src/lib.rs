//! The meshwasm auth filter: decides who the caller is and whether it may
//! pass, before anything else runs.
//!
//! This stage strips client-sent copies of the identity header, so that
//! only the filter can name a consumer to the upstream.

pub mod config;
pub mod jwt;

use config::AuthConfig;
use meshwasm_core::{ConfigError, Filter, Flow, HeaderMap, Host, LocalResponse, Stage};
use std::rc::Rc;

/// The configured auth filter.
#[derive(Debug)]
pub struct Auth {
    config: AuthConfig,
}

impl Filter for Auth {
    const NAME: &'static str = "auth";
    type Config = AuthConfig;
    type Stage = AuthStage;

    fn new(config: AuthConfig) -> Result<Self, ConfigError> {
        Ok(Self { config })
    }

    fn stage(self: &Rc<Self>) -> AuthStage {
        AuthStage {
            filter: Rc::clone(self),
        }
    }
}

/// The auth filter's work on one request.
#[derive(Debug)]
pub struct AuthStage {
    filter: Rc<Auth>,
}

impl Stage for AuthStage {
    fn on_request_headers(&mut self, host: &mut dyn Host) -> Flow {
        let header = self.filter.config.identity_header.as_str();
        match host.remove_header(HeaderMap::Request, header) {
            Ok(()) => Flow::Continue,
            // An identity we cannot clear might be a forged one: fail closed.
            Err(err) => {
                log::error!("meshwasm auth: could not remove `{header}`: {err}");
                Flow::Respond(LocalResponse::json_error(
                    500,
                    "internal_error",
                    "the request could not be authenticated",
                ))
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(Auth);

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::testing::FakeHost;

    fn auth(config: &str) -> Rc<Auth> {
        Rc::new(Auth::new(meshwasm_core::config::parse(config.as_bytes()).unwrap()).unwrap())
    }

    #[test]
    fn a_client_sent_identity_is_removed() {
        let mut host =
            FakeHost::with_request(&[("X-Meshwasm-Consumer", "admin"), ("x-other", "1")]);
        let flow = auth("").stage().on_request_headers(&mut host);
        assert_eq!(flow, Flow::Continue);
        assert!(host
            .values(HeaderMap::Request, "x-meshwasm-consumer")
            .is_empty());
        assert_eq!(host.values(HeaderMap::Request, "x-other"), ["1"]);
    }

    #[test]
    fn the_identity_header_is_configurable() {
        let mut host = FakeHost::with_request(&[("x-user", "admin"), ("x-meshwasm-consumer", "a")]);
        auth(r#"{"identity_header": "X-User"}"#)
            .stage()
            .on_request_headers(&mut host);
        assert!(host.values(HeaderMap::Request, "x-user").is_empty());
        assert_eq!(
            host.values(HeaderMap::Request, "x-meshwasm-consumer"),
            ["a"]
        );
    }

    #[test]
    fn bad_config_names_the_field() {
        let err = meshwasm_core::config::parse::<AuthConfig>(br#"{"identity_header": "x y"}"#)
            .unwrap_err();
        assert_eq!(err.field(), "identity_header");
        let err = meshwasm_core::config::parse::<AuthConfig>(br#"{"identity": "x"}"#).unwrap_err();
        assert!(err.reason().contains("unknown field `identity`"), "{err}");
    }
}
