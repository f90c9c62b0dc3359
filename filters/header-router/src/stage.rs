//! The header-router filter's work on one request.

use crate::config::{Fallback, HeaderActions, Respond, Rewrite, StickyKey};
use crate::template::{Source, Template};
use crate::{split, CompiledRule, HeaderRouter};
use meshwasm_core::request;
use meshwasm_core::stage::MAX_HEADER_VALUE_BYTES;
use meshwasm_core::{Flow, HeaderMap, Host, HostError, LocalResponse, Stage};
use std::rc::Rc;

/// A change to a header map, its value rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Edit {
    Set(String, String),
    Append(String, String),
    Remove(String),
}

/// The header-router filter's state for one request.
#[derive(Debug)]
pub struct HeaderRouterStage {
    filter: Rc<HeaderRouter>,
    /// Response-header changes decided on the way in.
    response: Vec<Edit>,
}

/// The request as templates see it.
struct Request<'a> {
    host: &'a dyn Host,
    method: &'a str,
    path: &'a str,
    captures: Vec<String>,
}

impl Source for Request<'_> {
    fn header(&mut self, name: &str) -> Option<String> {
        self.host.header(HeaderMap::Request, name).ok().flatten()
    }

    fn query(&mut self, name: &str) -> Option<String> {
        request::query_param(self.path, name)
    }

    fn cookie(&mut self, name: &str) -> Option<String> {
        let cookies = self.header("cookie")?;
        request::cookie(&cookies, name).map(str::to_owned)
    }

    fn path(&mut self) -> String {
        self.path
            .split_once('?')
            .map_or(self.path, |(p, _)| p)
            .to_owned()
    }

    fn method(&mut self) -> String {
        self.method.to_owned()
    }

    fn host(&mut self) -> Option<String> {
        self.header(":authority")
    }

    fn capture(&mut self, group: usize) -> Option<String> {
        self.captures.get(group).cloned()
    }
}

/// Whether a rendered value may be sent as a header value.
fn valid(value: &str) -> bool {
    value.len() <= MAX_HEADER_VALUE_BYTES && !value.contains(['\r', '\n', '\0'])
}

impl HeaderRouterStage {
    /// A stage for one request.
    pub fn new(filter: Rc<HeaderRouter>) -> Self {
        Self {
            filter,
            response: Vec::new(),
        }
    }
}

/// Renders a rule's header actions; values that are not valid are dropped
/// and counted.
fn render(
    actions: &HeaderActions,
    source: &mut Request<'_>,
    rule: &CompiledRule,
    dropped: &mut u32,
) -> Vec<Edit> {
    let mut edits = Vec::new();
    let mut value = |t: &Template| {
        let v = t.render(source);
        if valid(&v) {
            Some(v)
        } else {
            log::debug!(
                "meshwasm header-router: rule `{}`: dropped an invalid value",
                rule.rule.name
            );
            *dropped += 1;
            None
        }
    };
    for h in &actions.set {
        if let Some(v) = value(&h.value) {
            edits.push(Edit::Set(h.name.to_string(), v));
        }
    }
    for h in &actions.append {
        if let Some(v) = value(&h.value) {
            edits.push(Edit::Append(h.name.to_string(), v));
        }
    }
    edits.extend(actions.remove.iter().map(|h| Edit::Remove(h.to_string())));
    edits
}

fn apply(host: &mut dyn Host, map: HeaderMap, edits: &[Edit]) -> Result<(), HostError> {
    for edit in edits {
        match edit {
            Edit::Set(n, v) => host.set_header(map, n, v)?,
            Edit::Append(n, v) => host.add_header(map, n, v)?,
            Edit::Remove(n) => host.remove_header(map, n)?,
        }
    }
    Ok(())
}

/// The new path, query kept; `None` when the rewrite does not apply.
fn rewritten(rewrite: &Rewrite, path: &str) -> Option<String> {
    let (bare, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let new = match rewrite {
        Rewrite::Prefix { from, to } => format!("{to}{}", bare.strip_prefix(from.as_str())?),
        Rewrite::Regex {
            pattern,
            replacement,
        } => pattern.replace(bare, replacement)?,
    };
    Some(match query {
        Some(q) => format!("{new}?{q}"),
        None => new,
    })
}

/// What a rule decided beyond header edits.
struct Outcome {
    answer: Option<LocalResponse>,
    request: Vec<Edit>,
    response: Vec<Edit>,
    path: Option<String>,
    split: Option<usize>,
    dropped: u32,
}

/// Works out everything a matching rule does, reading the request only.
fn decide(rule: &CompiledRule, host: &dyn Host, method: &str, path: &str) -> Outcome {
    let mut source = Request {
        host,
        method,
        path,
        captures: rule.rule.matcher.path_captures(path),
    };
    let mut dropped = 0;
    let answer = rule
        .rule
        .respond
        .as_ref()
        .and_then(|respond| match respond {
            Respond::Redirect { location, status } => {
                let location = location.render(&mut source);
                if valid(&location) {
                    Some(LocalResponse {
                        status: *status,
                        headers: vec![("location".to_owned(), location)],
                        body: Vec::new(),
                    })
                } else {
                    dropped += 1;
                    None
                }
            }
            Respond::Direct {
                status,
                body,
                content_type,
            } => Some(LocalResponse {
                status: *status,
                headers: vec![("content-type".to_owned(), content_type.clone())],
                body: body.clone().into_bytes(),
            }),
        });
    let request = render(&rule.rule.request_headers, &mut source, rule, &mut dropped);
    let response = render(&rule.rule.response_headers, &mut source, rule, &mut dropped);
    let new_path = rule.rule.rewrite.as_ref().and_then(|r| rewritten(r, path));
    let split = rule.rule.split.as_ref().and_then(|s| {
        let sticky = s.sticky.as_ref().and_then(|key| match key {
            StickyKey::Header(name) => source.header(name.as_str()),
            StickyKey::Cookie(name) => source.cookie(name),
            StickyKey::ClientAddress => host
                .property(&["source", "address"])
                .ok()
                .flatten()
                .and_then(|b| String::from_utf8(b).ok())
                .map(|a| {
                    a.rsplit_once(':')
                        .map_or(a.clone(), |(ip, _)| ip.to_owned())
                }),
        });
        let target = match (sticky, &s.fallback) {
            (Some(key), _) => split::pick(s, &key)?,
            (None, Fallback::Value(v)) => s.targets.iter().find(|t| &t.value == v)?,
            (None, Fallback::Random) => {
                // Envoy gives every request a random x-request-id.
                let draw = source
                    .header("x-request-id")
                    .unwrap_or_else(|| host.now().map(|t| format!("{t:?}")).unwrap_or_default());
                split::pick(s, &draw)?
            }
        };
        s.targets.iter().position(|t| t.value == target.value)
    });
    Outcome {
        answer,
        request,
        response,
        path: new_path,
        split,
        dropped,
    }
}

impl Stage for HeaderRouterStage {
    fn on_request_headers(&mut self, host: &mut dyn Host) -> Flow {
        let filter = Rc::clone(&self.filter);
        for name in &filter.owned {
            if let Err(e) = host.remove_header(HeaderMap::Request, name.as_str()) {
                log::error!("meshwasm header-router: cannot remove `{name}`: {e}");
                return Flow::Respond(LocalResponse::json_error(
                    500,
                    "internal_error",
                    "the request could not be routed",
                ));
            }
        }
        let read = |host: &dyn Host, name| {
            host.header(HeaderMap::Request, name)
                .ok()
                .flatten()
                .unwrap_or_default()
        };
        let method = read(host, ":method");
        let mut path = read(host, ":path");
        let mut changed = false;
        for rule in &filter.rules {
            let matches = rule.rule.matcher.matches(&method, &path, |name| {
                host.header(HeaderMap::Request, name).ok().flatten()
            });
            if !matches {
                continue;
            }
            rule.matched.increment(host);
            let outcome = decide(rule, host, &method, &path);
            for _ in 0..outcome.dropped {
                rule.dropped.increment(host);
            }
            if let Some(answer) = outcome.answer {
                return Flow::Respond(answer);
            }
            let mut edits = outcome.request;
            if let Some(new) = outcome.path {
                edits.push(Edit::Set(":path".to_owned(), new.clone()));
                path = new;
            }
            if let Some((i, split)) = outcome.split.zip(rule.rule.split.as_ref()) {
                if let (Some(target), Some(counter)) = (split.targets.get(i), rule.split.get(i)) {
                    edits.push(Edit::Set(split.header.to_string(), target.value.clone()));
                    counter.increment(host);
                }
            }
            if let Err(e) = apply(host, HeaderMap::Request, &edits) {
                log::warn!("meshwasm header-router: rule `{}`: {e}", rule.rule.name);
            }
            changed |= !edits.is_empty();
            self.response.extend(outcome.response);
            if !rule.rule.continue_matching {
                break;
            }
        }
        if changed {
            // Envoy also clears it when Wasm changes request headers; asking
            // keeps the behaviour on hosts that do not.
            if let Err(e) = host.clear_route_cache() {
                log::debug!("meshwasm header-router: clear_route_cache: {e}");
            }
        }
        Flow::Continue
    }

    fn on_response_headers(&mut self, host: &mut dyn Host) {
        if let Err(e) = apply(host, HeaderMap::Response, &self.response) {
            log::warn!("meshwasm header-router: response headers: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
