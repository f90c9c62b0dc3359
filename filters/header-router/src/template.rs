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

use meshwasm_core::HeaderName;
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
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Where a template's placeholders are read from.
pub trait Source {
    /// A request header.
    fn header(&mut self, name: &str) -> Option<String>;
    /// A query parameter.
    fn query(&mut self, name: &str) -> Option<String>;
    /// A cookie.
    fn cookie(&mut self, name: &str) -> Option<String>;
    /// The path without the query.
    fn path(&mut self) -> String;
    /// The method.
    fn method(&mut self) -> String;
    /// The host.
    fn host(&mut self) -> Option<String>;
    /// A capture group of the path regex.
    fn capture(&mut self, group: usize) -> Option<String>;
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

    /// Fills in the placeholders.
    pub fn render(&self, source: &mut dyn Source) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Header(name) => {
                    out.push_str(&source.header(name.as_str()).unwrap_or_default())
                }
                Piece::Query(name) => out.push_str(&source.query(name).unwrap_or_default()),
                Piece::Cookie(name) => out.push_str(&source.cookie(name).unwrap_or_default()),
                Piece::Path => out.push_str(&source.path()),
                Piece::Method => out.push_str(&source.method()),
                Piece::Host => out.push_str(&source.host().unwrap_or_default()),
                Piece::Capture(n) => out.push_str(&source.capture(*n).unwrap_or_default()),
            }
        }
        out
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
    use std::collections::HashMap;

    struct Request(HashMap<&'static str, &'static str>);

    impl Source for Request {
        fn header(&mut self, name: &str) -> Option<String> {
            self.0
                .get(format!("h:{name}").as_str())
                .map(|v| (*v).to_owned())
        }
        fn query(&mut self, name: &str) -> Option<String> {
            self.0
                .get(format!("q:{name}").as_str())
                .map(|v| (*v).to_owned())
        }
        fn cookie(&mut self, name: &str) -> Option<String> {
            self.0
                .get(format!("c:{name}").as_str())
                .map(|v| (*v).to_owned())
        }
        fn path(&mut self) -> String {
            "/users/42".to_owned()
        }
        fn method(&mut self) -> String {
            "GET".to_owned()
        }
        fn host(&mut self) -> Option<String> {
            Some("shop.example".to_owned())
        }
        fn capture(&mut self, group: usize) -> Option<String> {
            ["/users/42", "42"].get(group).map(|s| (*s).to_owned())
        }
    }

    fn template(s: &str) -> Result<Template, String> {
        Template::try_from(s.to_owned())
    }

    #[test]
    fn placeholders_are_filled() {
        let mut request = Request(HashMap::from([
            ("h:x-user", "alice"),
            ("q:lang", "de"),
            ("c:group", "beta"),
        ]));
        let t = template("{method} {host}{path} user={header.X-User} lang={query.lang} g={cookie.group} id={path.1} {{literal}}").unwrap();
        assert_eq!(
            t.render(&mut request),
            "GET shop.example/users/42 user=alice lang=de g=beta id=42 {literal}"
        );
        assert_eq!(t.max_capture(), Some(1));
        assert_eq!(
            template("{header.missing}-x").unwrap().render(&mut request),
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
