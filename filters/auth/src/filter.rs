//! The compiled filter: what `Filter::new` builds from the configuration
//! once, and every stage reads.

use crate::api_key::ApiKeys;
use crate::basic::BasicUsers;
use crate::config::{AuthConfig, TokenSource};
use crate::credentials;
use crate::ext_authz::ExtAuthz;
use crate::jwt::Jwt;
use crate::rules::Rules;
use meshwasm_core::config::compile_section;
use meshwasm_core::metrics::CounterFamily;
use meshwasm_core::{ConfigError, Proxy};

/// The configured auth filter.
#[derive(Debug)]
pub struct Auth {
    /// The configuration, as validated.
    pub(crate) config: AuthConfig,
    /// The API keys, if configured.
    pub(crate) api_keys: Option<ApiKeys>,
    /// The Basic users, if configured.
    pub(crate) basic: Option<BasicUsers>,
    /// The JWT providers, if configured.
    pub(crate) jwt: Option<Jwt>,
    /// The external authorization service, if configured.
    pub(crate) ext_authz: Option<ExtAuthz>,
    /// The rules, in order.
    pub(crate) rules: Rules,
    /// Headers only the filter may set: the client's copies are removed.
    pub(crate) owned_headers: Vec<String>,
    /// Where credentials are read from that must not reach the upstream.
    pub(crate) unforwarded: Vec<TokenSource>,
    /// `meshwasm_auth_requests_total{decision, reason}`.
    pub(crate) decisions: CounterFamily,
}

impl Auth {
    /// Builds the filter from a validated configuration.
    pub(crate) fn compile(config: AuthConfig) -> Result<Self, ConfigError> {
        // Each part builds from its own section, naming fields within it.
        let jwt = compile_section("jwt", config.jwt.as_ref(), Jwt::new)?;
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
            api_keys: compile_section("api_key", config.api_key.as_ref(), ApiKeys::new)?,
            basic: compile_section("basic", config.basic.as_ref(), BasicUsers::new)?,
            rules: Rules::new(&config),
            jwt,
            ext_authz,
            owned_headers,
            unforwarded: credentials::unforwarded(&config),
            decisions: CounterFamily::new("meshwasm_auth_requests_total", &["decision", "reason"]),
            config,
        })
    }
}

/// The proxy's clock in whole seconds, for key-fetch timing; the epoch if
/// it cannot be read (a fetch is then tried again at once, which is
/// rate-limited by the fetch in flight). Tokens use [`token_time`].
pub(crate) fn seconds(proxy: &dyn Proxy) -> u64 {
    proxy.epoch_nanos().map_or(0, |n| n / 1_000_000_000)
}

/// The time a token's window is checked against, in whole seconds. If the
/// clock cannot be read it is the end of time, so every `exp` has passed
/// and tokens fail closed (one without `exp`, where the configuration
/// allows that, has no window to check).
pub(crate) fn token_time(proxy: &dyn Proxy) -> u64 {
    proxy.epoch_nanos().map_or(u64::MAX, |n| n / 1_000_000_000)
}
