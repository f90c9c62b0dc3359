//! The meshwasm auth filter: decides who the caller is and whether it may
//! pass, before anything else runs.
//!
//! Methods (any subset; a request passes when one accepts it, and that
//! method names the consumer): API keys, HTTP Basic, JWT with inline or
//! remote JWKS, and external authorization over HTTP. Ordered rules pick,
//! per path and method, which methods apply (or none: anonymous), and
//! which consumers and claims may pass.

pub mod api_key;
pub mod basic;
pub mod config;
pub mod credentials;
pub mod digest;
pub mod ext_authz;
pub mod filter;
pub mod jwt;
pub mod rules;
pub mod stage;

pub use filter::Auth;

use config::AuthConfig;
use filter::seconds;
use meshwasm_core::{CallResponse, ConfigError, Filter, Proxy};
use stage::AuthStage;
use std::rc::Rc;
use std::time::Duration;

impl Filter for Auth {
    const NAME: &'static str = "auth";
    type Config = AuthConfig;
    type Stage = AuthStage;

    fn new(config: AuthConfig) -> Result<Self, ConfigError> {
        Self::compile(config)
    }

    fn stage(self: &Rc<Self>) -> AuthStage {
        AuthStage::new(Rc::clone(self))
    }

    fn tick_period(&self) -> Option<Duration> {
        self.jwt
            .as_ref()
            .filter(|j| j.fetches_keys())
            .map(|_| Duration::from_secs(1))
    }

    fn on_tick(&self, proxy: &mut dyn Proxy) {
        if let Some(jwt) = &self.jwt {
            let now = seconds(proxy);
            jwt.refresh(proxy, now);
        }
    }

    fn on_call_response(&self, proxy: &mut dyn Proxy, token: u32, response: &CallResponse) {
        if let Some(jwt) = &self.jwt {
            let now = seconds(proxy);
            jwt.take_keys(token, response, now);
        }
    }
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(Auth);

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(Auth);
