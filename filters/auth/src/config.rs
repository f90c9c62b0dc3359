//! The auth filter's configuration.

use meshwasm_core::{ConfigError, HeaderName, Validate};
use serde::Deserialize;

/// The default [`AuthConfig::identity_header`].
pub const DEFAULT_IDENTITY_HEADER: HeaderName = HeaderName::from_static("x-meshwasm-consumer");

/// The auth filter's JSON configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The header that carries the authenticated consumer's name to the
    /// upstream. Any copy the client sends is removed, so it cannot be
    /// spoofed.
    #[serde(default = "default_identity_header")]
    pub identity_header: HeaderName,
}

fn default_identity_header() -> HeaderName {
    DEFAULT_IDENTITY_HEADER
}

impl Validate for AuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
