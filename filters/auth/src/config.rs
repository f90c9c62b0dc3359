//! The auth filter's configuration, as users write it.

use meshwasm_core::config::{validate_each, validate_named};
use meshwasm_core::matcher::RequestMatch;
use meshwasm_core::{ConfigError, HeaderName, Validate};
use serde::Deserialize;
use std::collections::{BTreeMap, HashSet};

/// The default [`AuthConfig::identity_header`].
pub const DEFAULT_IDENTITY_HEADER: HeaderName = HeaderName::from_static("x-meshwasm-consumer");
/// The default [`ApiKeyConfig::header`].
pub const DEFAULT_API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");
/// The longest token or credential read, in bytes.
pub const MAX_CREDENTIAL_BYTES: usize = 16 * 1024;

/// The auth filter's JSON configuration.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The header that carries the authenticated consumer's name to the
    /// upstream. Any copy the client sends is removed.
    #[serde(default = "default_identity_header")]
    pub identity_header: HeaderName,
    /// API keys.
    #[serde(default)]
    pub api_key: Option<ApiKeyConfig>,
    /// HTTP Basic authentication.
    #[serde(default)]
    pub basic: Option<BasicConfig>,
    /// JSON Web Tokens.
    #[serde(default)]
    pub jwt: Option<JwtConfig>,
    /// External authorization over HTTP.
    #[serde(default)]
    pub ext_authz: Option<ExtAuthzConfig>,
    /// Per-path rules; the first that matches applies. A request no rule
    /// matches must authenticate with any configured method.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

fn default_identity_header() -> HeaderName {
    DEFAULT_IDENTITY_HEADER
}

/// An authentication method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// [`ApiKeyConfig`].
    ApiKey,
    /// [`BasicConfig`].
    Basic,
    /// [`JwtConfig`].
    Jwt,
    /// [`ExtAuthzConfig`].
    ExtAuthz,
}

impl Method {
    /// The name used in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Self::ApiKey => "api_key",
            Self::Basic => "basic",
            Self::Jwt => "jwt",
            Self::ExtAuthz => "ext_authz",
        }
    }
}

/// API keys: a consumer is whoever holds its key.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// The request header that carries the key.
    #[serde(default = "default_api_key_header")]
    pub header: HeaderName,
    /// A query parameter that carries the key, tried after the header.
    #[serde(default)]
    pub query: Option<String>,
    /// Who holds which key.
    pub consumers: Vec<KeyConsumer>,
    /// Keep the key on the request to the upstream (it is removed by
    /// default: the upstream learns the consumer from the identity header).
    #[serde(default)]
    pub forward: bool,
}

fn default_api_key_header() -> HeaderName {
    DEFAULT_API_KEY_HEADER
}

/// A consumer and its key: the key itself, or its SHA-256 digest so the
/// plain key need not sit in config.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct KeyConsumer {
    /// The consumer's name, sent to the upstream in the identity header.
    pub name: String,
    /// The key.
    #[serde(default)]
    pub key: Option<String>,
    /// The key's SHA-256 digest, 64 hex digits.
    #[serde(default)]
    pub key_sha256: Option<String>,
}

/// HTTP Basic authentication with hashed passwords.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BasicConfig {
    /// The realm named in the `WWW-Authenticate` challenge.
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Users and their password hashes.
    #[serde(default)]
    pub users: Vec<BasicUser>,
    /// Users in htpasswd form, one `name:{SHA}hash` per line, as Envoy's
    /// native `basic_auth` reads them.
    #[serde(default)]
    pub htpasswd: Option<String>,
    /// Keep the `Authorization` header on the request to the upstream.
    #[serde(default)]
    pub forward: bool,
}

fn default_realm() -> String {
    "meshwasm".to_owned()
}

/// A Basic user.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct BasicUser {
    /// The user name, which is also the consumer name.
    pub name: String,
    /// `{SHA}` + base64 of the password's SHA-1 (htpasswd -s), or
    /// `{SHA256}` + hex of its SHA-256.
    pub password_hash: String,
}

/// JSON Web Tokens from one or more issuers.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The issuers whose tokens are accepted.
    pub providers: Vec<JwtProvider>,
    /// How many verified tokens to remember, so a token's signature is
    /// checked once; 0 turns the cache off. Each entry keeps the token and
    /// its claims.
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
}

fn default_cache_entries() -> usize {
    1024
}

/// One token issuer: where its keys are, what its tokens must say.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct JwtProvider {
    /// Names the provider in logs.
    pub name: String,
    /// The `iss` its tokens must carry; any when unset.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Tokens must name one of these in `aud`; any when empty.
    #[serde(default)]
    pub audiences: Vec<String>,
    /// The signing keys, inline, as a JWKS (`{"keys": [...]}`).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// The signing keys, fetched from a JWKS endpoint through an Envoy
    /// cluster.
    #[serde(default)]
    pub remote_jwks: Option<RemoteJwks>,
    /// Where the token is read from, in order.
    #[serde(default = "default_sources")]
    pub from: Vec<TokenSource>,
    /// Refuse tokens without `exp`.
    #[serde(default = "yes")]
    pub require_expiration: bool,
    /// Slack allowed on `exp` and `nbf`, for clocks that disagree.
    #[serde(default = "default_clock_skew")]
    pub clock_skew_seconds: u32,
    /// Claims every token must carry.
    #[serde(default)]
    pub required_claims: Vec<String>,
    /// The claim that names the consumer.
    #[serde(default = "default_consumer_claim")]
    pub consumer_claim: String,
    /// Claims copied to request headers for the upstream.
    #[serde(default)]
    pub claim_to_headers: Vec<ClaimToHeader>,
    /// Keep the token on the request to the upstream (it is removed by
    /// default, as Envoy's `jwt_authn` and Istio do).
    #[serde(default)]
    pub forward: bool,
    /// The longest token accepted, in bytes.
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
}

fn yes() -> bool {
    true
}

fn default_clock_skew() -> u32 {
    60
}

fn default_consumer_claim() -> String {
    "sub".to_owned()
}

fn default_max_token_bytes() -> usize {
    8 * 1024
}

fn default_sources() -> Vec<TokenSource> {
    vec![TokenSource::Header {
        name: HeaderName::from_static("authorization"),
        prefix: Some("Bearer ".to_owned()),
    }]
}

/// Where a token is read from.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum TokenSource {
    /// A request header, after an optional prefix such as `Bearer `.
    Header {
        /// The header.
        name: HeaderName,
        /// What the value starts with (compared case-insensitively).
        #[serde(default)]
        prefix: Option<String>,
    },
    /// A query parameter.
    Query(String),
    /// A cookie.
    Cookie(String),
}

/// A JWKS endpoint.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RemoteJwks {
    /// The Envoy cluster that reaches it.
    pub cluster: String,
    /// The path to request, such as `/.well-known/jwks.json`.
    pub path: String,
    /// The `:authority` to send; the cluster name when unset.
    #[serde(default)]
    pub authority: Option<String>,
    /// How often the keys are fetched again.
    #[serde(default = "default_refresh")]
    pub refresh_seconds: u32,
    /// The least time between two fetches caused by tokens naming an
    /// unknown `kid`.
    #[serde(default = "default_unknown_kid_refresh")]
    pub unknown_kid_refresh_seconds: u32,
    /// How long a fetch may take.
    #[serde(default = "default_jwks_timeout")]
    pub timeout_ms: u32,
    /// The largest JWKS document accepted.
    #[serde(default = "default_jwks_bytes")]
    pub max_bytes: usize,
    /// Accept symmetric (`kty` `oct`) keys from the endpoint. Off by
    /// default: such a key is the HMAC secret itself, so fetching it puts
    /// the secret on the wire and lets whoever can answer for the endpoint
    /// mint tokens. Inline `jwks` may always hold `oct` keys.
    #[serde(default)]
    pub allow_symmetric_keys: bool,
}

fn default_refresh() -> u32 {
    300
}

fn default_unknown_kid_refresh() -> u32 {
    10
}

fn default_jwks_timeout() -> u32 {
    5000
}

fn default_jwks_bytes() -> usize {
    64 * 1024
}

/// A claim copied to a request header.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ClaimToHeader {
    /// The claim; a string, number or boolean is copied as it is.
    pub claim: String,
    /// The header.
    pub header: HeaderName,
}

/// External authorization over HTTP: a service decides.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ExtAuthzConfig {
    /// The Envoy cluster of the authorization service.
    pub cluster: String,
    /// The `:authority` to send; the cluster name when unset.
    #[serde(default)]
    pub authority: Option<String>,
    /// Put before the request's path in the check request.
    #[serde(default)]
    pub path_prefix: String,
    /// How long the service may take.
    #[serde(default = "default_authz_timeout")]
    pub timeout_ms: u32,
    /// Request headers sent to the service (besides method and path).
    #[serde(default = "default_authz_request_headers")]
    pub allowed_request_headers: Vec<HeaderName>,
    /// Headers of an allowing answer copied onto the upstream request.
    #[serde(default)]
    pub allowed_upstream_headers: Vec<HeaderName>,
    /// Headers of a denying answer sent back to the client.
    #[serde(default = "default_authz_client_headers")]
    pub allowed_client_headers: Vec<HeaderName>,
    /// A header of the allowing answer that names the consumer.
    #[serde(default)]
    pub consumer_header: Option<HeaderName>,
    /// Let requests pass when the service cannot be reached or times out.
    #[serde(default)]
    pub failure_mode_allow: bool,
    /// Keep the credential headers the service is sent (`authorization`,
    /// `proxy-authorization`, `cookie`) on the upstream request; by
    /// default they are removed.
    #[serde(default)]
    pub forward: bool,
}

fn default_authz_timeout() -> u32 {
    200
}

fn default_authz_request_headers() -> Vec<HeaderName> {
    vec![
        HeaderName::from_static("authorization"),
        HeaderName::from_static("cookie"),
    ]
}

fn default_authz_client_headers() -> Vec<HeaderName> {
    vec![
        HeaderName::from_static("www-authenticate"),
        HeaderName::from_static("location"),
        HeaderName::from_static("content-type"),
    ]
}

/// Who may call the requests a rule matches.
#[derive(Debug, Clone, Default, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Which requests; every request when empty.
    #[serde(default, rename = "match")]
    pub matcher: RequestMatch,
    /// Let requests pass without credentials (health checks, public
    /// pages).
    #[serde(default)]
    pub anonymous: bool,
    /// The methods a request may authenticate with; every configured one
    /// when empty.
    #[serde(default)]
    pub accept: Vec<Method>,
    /// Only these consumers may pass; any authenticated one when empty.
    #[serde(default)]
    pub consumers: Vec<String>,
    /// JWT claims the token must carry with these values (a list claim,
    /// or a space-separated `scope`/`scp`, must contain the value).
    #[serde(default)]
    pub claims: BTreeMap<String, String>,
}

impl AuthConfig {
    /// The methods this configuration sets up, in the order they are tried.
    pub fn methods(&self) -> Vec<Method> {
        [
            (self.api_key.is_some(), Method::ApiKey),
            (self.basic.is_some(), Method::Basic),
            (self.jwt.is_some(), Method::Jwt),
            (self.ext_authz.is_some(), Method::ExtAuthz),
        ]
        .into_iter()
        .filter_map(|(on, m)| on.then_some(m))
        .collect()
    }
}

impl Validate for AuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let methods = self.methods();
        if methods.is_empty() {
            return Err(ConfigError::new(
                "",
                "configure at least one of `api_key`, `basic`, `jwt`, `ext_authz`",
            ));
        }
        if let Some(c) = &self.api_key {
            c.validate().map_err(|e| e.within("api_key"))?;
        }
        if let Some(c) = &self.basic {
            c.validate().map_err(|e| e.within("basic"))?;
        }
        if let Some(c) = &self.jwt {
            c.validate().map_err(|e| e.within("jwt"))?;
        }
        if let Some(c) = &self.ext_authz {
            c.validate().map_err(|e| e.within("ext_authz"))?;
        }
        for (i, rule) in self.rules.iter().enumerate() {
            rule.validate_with(&methods)
                .map_err(|e| e.within(&format!("rules[{i}]")))?;
        }
        Ok(())
    }
}

impl Rule {
    fn validate_with(&self, configured: &[Method]) -> Result<(), ConfigError> {
        self.matcher.validate().map_err(|e| e.within("match"))?;
        if self.anonymous
            && !(self.accept.is_empty() && self.consumers.is_empty() && self.claims.is_empty())
        {
            return Err(ConfigError::new(
                "anonymous",
                "an anonymous rule cannot also set `accept`, `consumers` or `claims`",
            ));
        }
        if let Some((i, m)) = self
            .accept
            .iter()
            .enumerate()
            .find(|(_, m)| !configured.contains(m))
        {
            return Err(ConfigError::new(
                format!("accept[{i}]"),
                format!("`{}` is not configured", m.name()),
            ));
        }
        if !self.claims.is_empty() && !configured.contains(&Method::Jwt) {
            return Err(ConfigError::new(
                "claims",
                "claims need `jwt` to be configured",
            ));
        }
        Ok(())
    }
}

/// Checks a consumer name: it travels in a header.
fn consumer_name(name: &str) -> Result<(), ConfigError> {
    if name.is_empty() || name.len() > 256 || !name.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::new(
            "name",
            "must be 1 to 256 visible ASCII characters",
        ));
    }
    Ok(())
}

impl Validate for ApiKeyConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.consumers.is_empty() {
            return Err(ConfigError::new(
                "consumers",
                "must name at least one consumer",
            ));
        }
        if self.query.as_deref() == Some("") {
            return Err(ConfigError::new("query", "must not be empty"));
        }
        validate_named("consumers", &self.consumers, |c| &c.name)
    }
}

impl Validate for KeyConsumer {
    fn validate(&self) -> Result<(), ConfigError> {
        consumer_name(&self.name)?;
        match (&self.key, &self.key_sha256) {
            (Some(key), None) if key.is_empty() || key.len() > MAX_CREDENTIAL_BYTES => Err(
                ConfigError::new("key", format!("must be 1 to {MAX_CREDENTIAL_BYTES} bytes")),
            ),
            // `key_sha256` is decoded once, when the keys are built
            // (`ApiKeys::new`).
            (Some(_), None) | (None, Some(_)) => Ok(()),
            _ => Err(ConfigError::new(
                "",
                "set exactly one of `key` and `key_sha256`",
            )),
        }
    }
}

impl Validate for BasicConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.realm.is_empty() || self.realm.contains(['"', '\\', '\r', '\n']) {
            return Err(ConfigError::new(
                "realm",
                "must be non-empty, without quotes, backslashes or line breaks",
            ));
        }
        if self.users.is_empty() && self.htpasswd.is_none() {
            return Err(ConfigError::new("users", "set `users` or `htpasswd`"));
        }
        validate_named("users", &self.users, |u| &u.name)
    }
}

impl Validate for BasicUser {
    fn validate(&self) -> Result<(), ConfigError> {
        consumer_name(&self.name)?;
        if self.name.contains(':') {
            return Err(ConfigError::new("name", "must not contain `:`"));
        }
        // The hash itself is parsed once, when the users are built
        // (`BasicUsers::new`).
        Ok(())
    }
}

impl Validate for JwtConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.providers.is_empty() {
            return Err(ConfigError::new(
                "providers",
                "must name at least one provider",
            ));
        }
        validate_named("providers", &self.providers, |p| &p.name)
    }
}

impl Validate for JwtProvider {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.name.is_empty() {
            return Err(ConfigError::new("name", "must not be empty"));
        }
        match (&self.jwks, &self.remote_jwks) {
            (Some(_), None) => {}
            (None, Some(remote)) => remote.validate().map_err(|e| e.within("remote_jwks"))?,
            _ => {
                return Err(ConfigError::new(
                    "",
                    "set exactly one of `jwks` and `remote_jwks`",
                ))
            }
        }
        if self.from.is_empty() {
            return Err(ConfigError::new("from", "must name at least one place"));
        }
        validate_each("from", &self.from)?;
        if !(64..=MAX_CREDENTIAL_BYTES).contains(&self.max_token_bytes) {
            return Err(ConfigError::new(
                "max_token_bytes",
                format!("must be 64 to {MAX_CREDENTIAL_BYTES}"),
            ));
        }
        if self.consumer_claim.is_empty() {
            return Err(ConfigError::new("consumer_claim", "must not be empty"));
        }
        let mut headers = HashSet::new();
        for (i, c) in self.claim_to_headers.iter().enumerate() {
            if !headers.insert(&c.header) {
                return Err(ConfigError::new(
                    format!("claim_to_headers[{i}].header"),
                    "is set by another claim already",
                ));
            }
        }
        Ok(())
    }
}

impl Validate for TokenSource {
    fn validate(&self) -> Result<(), ConfigError> {
        match self {
            Self::Query(name) | Self::Cookie(name) if name.is_empty() => {
                Err(ConfigError::new("", "must not be empty"))
            }
            _ => Ok(()),
        }
    }
}

impl Validate for RemoteJwks {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.cluster.is_empty() {
            return Err(ConfigError::new("cluster", "must not be empty"));
        }
        if !self.path.starts_with('/') {
            return Err(ConfigError::new("path", "must start with `/`"));
        }
        if self.refresh_seconds == 0 {
            return Err(ConfigError::new("refresh_seconds", "must be at least 1"));
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::new("timeout_ms", "must be at least 1"));
        }
        let most = meshwasm_core::stage::MAX_CALL_BODY_BYTES;
        if !(1..=most).contains(&self.max_bytes) {
            return Err(ConfigError::new(
                "max_bytes",
                format!("must be 1 to {most}"),
            ));
        }
        Ok(())
    }
}

impl Validate for ExtAuthzConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.cluster.is_empty() {
            return Err(ConfigError::new("cluster", "must not be empty"));
        }
        if !self.path_prefix.is_empty() && !self.path_prefix.starts_with('/') {
            return Err(ConfigError::new("path_prefix", "must start with `/`"));
        }
        if self.timeout_ms == 0 {
            return Err(ConfigError::new("timeout_ms", "must be at least 1"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod props;
