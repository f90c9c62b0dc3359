//! Where credentials travel, and taking them off a request before it goes
//! upstream: every place the filter is configured to read a credential
//! from is cleared, whichever method accepted the caller, unless the
//! method that reads it says `forward: true`.

use crate::config::{AuthConfig, TokenSource};
use meshwasm_core::request::{self, Request};
use meshwasm_core::{HeaderMap, HeaderName, HostError};

/// Headers that carry credentials among those sent to an authorization
/// service.
const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// Every place a credential is read from and must not be forwarded, each
/// once, in configuration order. A header read with a prefix (`Bearer `,
/// `Basic `) is cleared only when its value carries that prefix.
pub fn unforwarded(config: &AuthConfig) -> Vec<TokenSource> {
    let header = |name: &HeaderName, prefix: Option<&str>| TokenSource::Header {
        name: name.clone(),
        prefix: prefix.map(str::to_owned),
    };
    let mut places = Vec::new();
    if let Some(keys) = config.api_key.as_ref().filter(|k| !k.forward) {
        places.push(header(&keys.header, None));
        places.extend(keys.query.iter().cloned().map(TokenSource::Query));
    }
    if let Some(_basic) = config.basic.as_ref().filter(|b| !b.forward) {
        places.push(header(
            &HeaderName::from_static("authorization"),
            Some("Basic "),
        ));
    }
    if let Some(jwt) = &config.jwt {
        for provider in jwt.providers.iter().filter(|p| !p.forward) {
            places.extend(provider.from.iter().cloned());
        }
    }
    if let Some(authz) = config.ext_authz.as_ref().filter(|a| !a.forward) {
        places.extend(
            authz
                .allowed_request_headers
                .iter()
                .filter(|h| CREDENTIAL_HEADERS.contains(&h.as_str()))
                .map(|h| header(h, None)),
        );
    }
    let mut unique: Vec<TokenSource> = Vec::with_capacity(places.len());
    for place in places {
        if !unique.contains(&place) {
            unique.push(place);
        }
    }
    unique
}

/// Clears every place in `places` on the request.
pub fn remove(request: &mut Request<'_>, places: &[TokenSource]) -> Result<(), HostError> {
    for place in places {
        match place {
            TokenSource::Header { name, prefix } => {
                let carries = match (prefix, request.header_text(name.as_str())?) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(prefix), Some(value)) => {
                        request::strip_prefix_ignore_case(&value, prefix).is_some()
                    }
                };
                if carries {
                    request.remove_header(HeaderMap::Request, name.as_str())?;
                }
            }
            TokenSource::Query(name) => {
                let path = request.path()?;
                let without = request::without_query_param(&path, name);
                if without != *path {
                    request.set_header(HeaderMap::Request, ":path", &without)?;
                }
            }
            TokenSource::Cookie(name) => {
                let Some(cookies) = request.header("cookie")? else {
                    continue;
                };
                // Cookies that cannot be read as text cannot be edited
                // without changing them: the header goes whole.
                let Ok(cookies) = std::str::from_utf8(cookies) else {
                    request.remove_header(HeaderMap::Request, "cookie")?;
                    continue;
                };
                if request::cookie(cookies, name).is_none() {
                    continue;
                }
                match request::without_cookie(cookies, name) {
                    Some(rest) => request.set_header(HeaderMap::Request, "cookie", &rest)?,
                    None => request.remove_header(HeaderMap::Request, "cookie")?,
                }
            }
        }
    }
    Ok(())
}
