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
pub mod ext_authz;
pub mod jwt;
pub mod rules;
pub mod stage;

use api_key::ApiKeys;
use basic::BasicUsers;
use config::{AuthConfig, TokenSource};
use ext_authz::ExtAuthz;
use jwt::Jwt;
use meshwasm_core::metrics::CounterFamily;
use meshwasm_core::{CallResponse, ConfigError, Filter, Proxy};
use rules::Rules;
use stage::AuthStage;
use std::rc::Rc;
use std::time::Duration;

/// The configured auth filter.
#[derive(Debug)]
pub struct Auth {
    config: AuthConfig,
    api_keys: Option<ApiKeys>,
    basic: Option<BasicUsers>,
    jwt: Option<Jwt>,
    ext_authz: Option<ExtAuthz>,
    rules: Rules,
    /// Headers only the filter may set: the client's copies are removed.
    owned_headers: Vec<String>,
    /// Where credentials are read from that must not reach the upstream.
    unforwarded: Vec<TokenSource>,
    /// `meshwasm_auth_requests_total{decision, reason}`.
    decisions: CounterFamily,
}

impl Filter for Auth {
    const NAME: &'static str = "auth";
    type Config = AuthConfig;
    type Stage = AuthStage;

    fn new(config: AuthConfig) -> Result<Self, ConfigError> {
        // Each part builds from its own section, naming fields within it.
        let jwt = config
            .jwt
            .as_ref()
            .map(|c| Jwt::new(c).map_err(|e| e.within("jwt")))
            .transpose()?;
        let ext_authz = config.ext_authz.as_ref().map(ExtAuthz::new);
        let mut owned_headers = vec![config.identity_header.as_str().to_owned()];
        let claim_headers = jwt
            .iter()
            .flat_map(|j| &j.providers)
            .flat_map(|p| &p.claim_to_headers)
            .map(|c| &c.header);
        let authz_headers = ext_authz.iter().flat_map(|a| a.upstream_headers());
        for name in claim_headers.chain(authz_headers) {
            if !owned_headers.iter().any(|h| h == name.as_str()) {
                owned_headers.push(name.as_str().to_owned());
            }
        }
        Ok(Self {
            api_keys: config
                .api_key
                .as_ref()
                .map(|c| ApiKeys::new(c).map_err(|e| e.within("api_key")))
                .transpose()?,
            basic: config
                .basic
                .as_ref()
                .map(|c| BasicUsers::new(c).map_err(|e| e.within("basic")))
                .transpose()?,
            rules: Rules::new(&config),
            jwt,
            ext_authz,
            owned_headers,
            unforwarded: credentials::unforwarded(&config),
            decisions: CounterFamily::new("meshwasm_auth_requests_total", &["decision", "reason"]),
            config,
        })
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

/// The proxy's clock in whole seconds, for key-fetch timing; the epoch if
/// it cannot be read (a fetch is then tried again at once, which is
/// rate-limited by the fetch in flight). Tokens use [`token_time`].
fn seconds(proxy: &dyn Proxy) -> u64 {
    proxy.epoch_nanos().map_or(0, |n| n / 1_000_000_000)
}

/// The time a token's window is checked against, in whole seconds. If the
/// clock cannot be read it is the end of time, so every `exp` has passed
/// and tokens fail closed (one without `exp`, where the configuration
/// allows that, has no window to check).
fn token_time(proxy: &dyn Proxy) -> u64 {
    proxy.epoch_nanos().map_or(u64::MAX, |n| n / 1_000_000_000)
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(Auth);

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(Auth);
