//! Validated names that configurations refer to.

use crate::stage::MAX_HEADER_VALUE_BYTES;
use serde::Deserialize;
use std::borrow::Cow;
use std::fmt;

/// The longest header name accepted in a configuration.
const MAX_HEADER_NAME_BYTES: usize = 256;

/// An HTTP header name from a configuration: a non-empty RFC 9110 token
/// (or an HTTP/2 pseudo-header such as `:authority`), stored lowercase as
/// Envoy stores header names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(with = "String")
)]
pub struct HeaderName(Cow<'static, str>);

impl<'de> Deserialize<'de> for HeaderName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::config::checked::string(d)
    }
}

impl HeaderName {
    /// A name known when the code is written, checked when it compiles:
    /// use it to define a `const` (a literal that is not a lowercase token
    /// then fails the build).
    pub const fn from_static(name: &'static str) -> Self {
        let mut bytes = name.as_bytes();
        assert!(!bytes.is_empty() && bytes.len() <= MAX_HEADER_NAME_BYTES);
        while let [b, rest @ ..] = bytes {
            assert!(is_token_byte(*b) && !b.is_ascii_uppercase());
            bytes = rest;
        }
        Self(Cow::Borrowed(name))
    }

    /// The name, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HeaderName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        let token = name.strip_prefix(':').unwrap_or(&name);
        if token.is_empty() {
            return Err("a header name must not be empty".to_owned());
        }
        if name.len() > MAX_HEADER_NAME_BYTES {
            return Err(format!(
                "a header name must be at most {MAX_HEADER_NAME_BYTES} bytes"
            ));
        }
        if let Some(bad) = token
            .chars()
            .find(|c| !u8::try_from(*c).is_ok_and(is_token_byte))
        {
            return Err(format!(
                "`{}` is not a valid header name: {bad:?} is not allowed",
                name.escape_debug()
            ));
        }
        Ok(Self(Cow::Owned(name.to_ascii_lowercase())))
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// RFC 9110 `tchar`.
const fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#'
                | b'$'
                | b'%'
                | b'&'
                | b'\''
                | b'*'
                | b'+'
                | b'-'
                | b'.'
                | b'^'
                | b'_'
                | b'`'
                | b'|'
                | b'~'
        )
}

/// Whether `value` may be sent as a header value: RFC 9110's
/// `field-value` (visible ASCII, space, tab and obs-text, no other control
/// character), at most [`MAX_HEADER_VALUE_BYTES`]. Envoy refuses to send a
/// request with anything else, so a filter writes nothing else.
pub fn is_field_value(value: &str) -> bool {
    value.len() <= MAX_HEADER_VALUE_BYTES
        && value
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_values_follow_rfc_9110() {
        for ok in ["", "a b\tc", "~!\"#", "caf\u{e9}", "\u{fffd}"] {
            assert!(is_field_value(ok), "{ok:?}");
        }
        for bad in ["a\rb", "a\nb", "\0", "\u{1}", "\u{1b}[31m", "\u{7f}"] {
            assert!(!is_field_value(bad), "{bad:?}");
        }
        assert!(!is_field_value(&"a".repeat(MAX_HEADER_VALUE_BYTES + 1)));
    }

    fn name(s: &str) -> Result<HeaderName, String> {
        HeaderName::try_from(s.to_owned())
    }

    #[test]
    fn names_are_lowercased() {
        assert_eq!(name("X-Api-Key").unwrap().as_str(), "x-api-key");
        assert_eq!(name(":authority").unwrap().as_str(), ":authority");
    }

    #[test]
    fn static_names_are_checked_at_compile_time() {
        const NAME: HeaderName = HeaderName::from_static("x-meshwasm-consumer");
        assert_eq!(NAME, name("X-Meshwasm-Consumer").unwrap());
    }

    #[test]
    fn invalid_names_are_refused() {
        for bad in ["", ":", "x api", "x:y", "x\r\ny", "ü", "a\0"] {
            assert!(name(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(name(&"a".repeat(MAX_HEADER_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn deserializing_reports_the_reason() {
        let err = serde_json::from_str::<HeaderName>(r#""x y""#).unwrap_err();
        assert!(err.to_string().contains("not a valid header name"), "{err}");
    }
}
