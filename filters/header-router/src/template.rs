//! Header-value templates: text with `{...}` placeholders filled from the
//! request, parsed once when the configuration is read.
//!
//! | placeholder | value |
//! |---|---|
//! | `{header.NAME}` | a request header |
//! | `{query.NAME}` | a query parameter, percent-decoded |
//! | `{cookie.NAME}` | a cookie |
//! | `{path}` | the path, without the query |
//! | `{method}` | the method |
//! | `{host}` | the host (`:authority`) |
//! | `{path.N}` | capture group `N` of the rule's path regex |
//!
//! `{{` and `}}` are literal braces. A missing value renders as empty.

use meshwasm_core::request::{cookie, query_param, Request};
use meshwasm_core::{HeaderName, HostError};
use serde::Deserialize;
use std::fmt;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Text as it is.
    Text(String),
    /// A request header.
    Header(HeaderName),
    /// A query parameter.
    Query(String),
    /// A cookie.
    Cookie(String),
    /// The path without the query.
    Path,
    /// The method.
    Method,
    /// The host.
    Host,
    /// A capture group of the path regex.
    Capture(usize),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "schema",
    derive(schemars::JsonSchema),
    schemars(with = "String")
)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        meshwasm_core::config::checked::string(d)
    }
}

impl Template {
    /// The pieces, in order.
    pub fn pieces(&self) -> &[Piece] {
        &self.pieces
    }

    /// The highest capture group used, if any.
    pub fn max_capture(&self) -> Option<usize> {
        self.pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Capture(n) => Some(*n),
                _ => None,
            })
            .max()
    }

    /// Fills in the placeholders from the request; `captures` are the
    /// groups of the rule's path regex. Values that are not UTF-8 render
    /// with U+FFFD in place of what cannot be decoded.
    pub fn render(&self, request: &Request<'_>, captures: &[String]) -> Result<String, HostError> {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Header(name) => {
                    out.push_str(&request.header_text(name.as_str())?.unwrap_or_default());
                }
                Piece::Query(name) => {
                    out.push_str(&query_param(&request.path()?, name).unwrap_or_default());
                }
                Piece::Cookie(name) => {
                    let cookies = request.header_text("cookie")?.unwrap_or_default();
                    out.push_str(cookie(&cookies, name).unwrap_or_default());
                }
                Piece::Path => {
                    let path = request.path()?;
                    out.push_str(path.split_once('?').map_or(&*path, |(p, _)| p));
                }
                Piece::Method => out.push_str(&request.method()?),
                Piece::Host => {
                    out.push_str(&request.header_text(":authority")?.unwrap_or_default());
                }
                Piece::Capture(n) => {
                    out.push_str(captures.get(*n).map_or("", String::as_str));
                }
            }
        }
        Ok(out)
    }
}

impl TryFrom<String> for Template {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, chars.peek()) {
                ('{', Some('{')) | ('}', Some('}')) => {
                    chars.next();
                    literal.push(c);
                }
                ('{', _) => {
                    let mut name = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        if c == '}' {
                            closed = true;
                            break;
                        }
                        name.push(c);
                    }
                    if !closed {
                        return Err(format!("`{{{name}` has no closing `}}`"));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(placeholder(&name)?);
                }
                ('}', _) => return Err("`}` without `{` (write `}}` for a brace)".to_owned()),
                _ => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if let Some(bad) = pieces.iter().find_map(|p| match p {
            Piece::Text(t) if t.contains(['\r', '\n', '\0']) => Some(t),
            _ => None,
        }) {
            return Err(format!("`{}` contains CR, LF or NUL", bad.escape_debug()));
        }
        Ok(Self { pieces })
    }
}

fn placeholder(name: &str) -> Result<Piece, String> {
    let unknown = || {
        format!(
            "`{{{name}}}` is not a placeholder: use header.NAME, query.NAME, cookie.NAME, path, method, host or path.N"
        )
    };
    Ok(match name.split_once('.') {
        None => match name {
            "path" => Piece::Path,
            "method" => Piece::Method,
            "host" => Piece::Host,
            _ => return Err(unknown()),
        },
        Some(("header", h)) => Piece::Header(HeaderName::try_from(h.to_owned())?),
        Some(("query", q)) if !q.is_empty() => Piece::Query(q.to_owned()),
        Some(("cookie", c)) if !c.is_empty() => Piece::Cookie(c.to_owned()),
        Some(("path", n)) => Piece::Capture(n.parse().map_err(|_| unknown())?),
        _ => return Err(unknown()),
    })
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => write!(f, "{}", t.replace('{', "{{").replace('}', "}}"))?,
                Piece::Header(h) => write!(f, "{{header.{h}}}")?,
                Piece::Query(q) => write!(f, "{{query.{q}}}")?,
                Piece::Cookie(c) => write!(f, "{{cookie.{c}}}")?,
                Piece::Path => f.write_str("{path}")?,
                Piece::Method => f.write_str("{method}")?,
                Piece::Host => f.write_str("{host}")?,
                Piece::Capture(n) => write!(f, "{{path.{n}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::testing::FakeHost;

    fn template(s: &str) -> Result<Template, String> {
        Template::try_from(s.to_owned())
    }

    #[test]
    fn placeholders_are_filled() {
        let mut host = FakeHost::with_request(&[
            (":method", "GET"),
            (":authority", "shop.example"),
            (":path", "/users/42?lang=de"),
            ("x-user", "alice"),
            ("cookie", "group=beta"),
        ]);
        let request = host.view();
        let captures = ["/users/42".to_owned(), "42".to_owned()];
        let t = template("{method} {host}{path} user={header.X-User} lang={query.lang} g={cookie.group} id={path.1} {{literal}}").unwrap();
        assert_eq!(
            t.render(&request, &captures).unwrap(),
            "GET shop.example/users/42 user=alice lang=de g=beta id=42 {literal}"
        );
        assert_eq!(t.max_capture(), Some(1));
        assert_eq!(
            template("{header.missing}-x{path.7}")
                .unwrap()
                .render(&request, &captures)
                .unwrap(),
            "-x"
        );
        assert_eq!(
            template("plain").unwrap().pieces(),
            [Piece::Text("plain".into())]
        );
    }

    #[test]
    fn templates_print_back_as_written() {
        let source = "a{{b}}{header.x}{path.2}{query.q}";
        assert_eq!(template(source).unwrap().to_string(), source);
    }

    #[test]
    fn bad_templates_are_refused() {
        for bad in [
            "{nope}",
            "{header.x y}",
            "{path.x}",
            "{query.}",
            "a}b",
            "{header.x",
            "a\r\nb",
        ] {
            assert!(template(bad).is_err(), "{bad:?} was accepted");
        }
    }
}

#[cfg(test)]
mod props;
