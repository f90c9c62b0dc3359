//! The header-router filter's work on one request.

use crate::config::{Fallback, HeaderActions, Respond, Rewrite, StickyKey};
use crate::filter::{CompiledRule, HeaderRouter};
use crate::split;
use crate::template::Template;
use meshwasm_core::names::is_field_value;
use meshwasm_core::request::{cookie, Request};
use meshwasm_core::{Flow, HeaderMap, HostError, LocalResponse, Proxy, Stage};
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

impl HeaderRouterStage {
    /// A stage for one request.
    pub fn new(filter: Rc<HeaderRouter>) -> Self {
        Self {
            filter,
            response: Vec::new(),
        }
    }
}

/// Renders a rule's header actions; values that are not valid header
/// values are dropped and counted.
fn render(
    actions: &HeaderActions,
    request: &Request<'_>,
    captures: &[String],
    rule: &CompiledRule,
    dropped: &mut u32,
) -> Result<Vec<Edit>, HostError> {
    let mut edits = Vec::new();
    let mut value = |t: &Template| -> Result<Option<String>, HostError> {
        Ok(sendable(t.render(request, captures)?, rule, dropped))
    };
    for h in &actions.set {
        if let Some(v) = value(&h.value)? {
            edits.push(Edit::Set(h.name.to_string(), v));
        }
    }
    for h in &actions.append {
        if let Some(v) = value(&h.value)? {
            edits.push(Edit::Append(h.name.to_string(), v));
        }
    }
    edits.extend(actions.remove.iter().map(|h| Edit::Remove(h.to_string())));
    Ok(edits)
}

/// `value` if it may be sent as a header value (`:path` included);
/// otherwise `None`, logged and counted in `dropped`.
fn sendable(value: String, rule: &CompiledRule, dropped: &mut u32) -> Option<String> {
    if is_field_value(&value) {
        return Some(value);
    }
    log::debug!(
        "meshwasm header-router: rule `{}`: dropped an invalid value",
        rule.rule.name
    );
    *dropped += 1;
    None
}

fn apply(request: &mut Request<'_>, map: HeaderMap, edits: &[Edit]) -> Result<(), HostError> {
    for edit in edits {
        match edit {
            Edit::Set(n, v) => request.set_header(map, n, v)?,
            Edit::Append(n, v) => request.add_header(map, n, v)?,
            Edit::Remove(n) => request.remove_header(map, n)?,
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

/// The answer to a request whose redirect target cannot be sent: it was
/// built from request values that are not valid in a header.
fn bad_redirect() -> LocalResponse {
    LocalResponse::json_error(
        400,
        "bad_request",
        "the redirect target built from this request is not a valid header value",
    )
}

/// Works out everything a matching rule does, reading the request only
/// (the path only when the rule's regex captures or rewrite need it; an
/// earlier rule's rewrite is already in the view).
fn decide(rule: &CompiledRule, request: &Request<'_>) -> Result<Outcome, HostError> {
    let captures = if rule.rule.matcher.captures_path() {
        rule.rule.matcher.path_captures(&request.path()?)
    } else {
        Vec::new()
    };
    let mut dropped = 0;
    let answer = match &rule.rule.respond {
        None => None,
        Some(Respond::Redirect { location, status }) => {
            let location = location.render(request, &captures)?;
            Some(match sendable(location, rule, &mut dropped) {
                Some(location) => LocalResponse {
                    status: *status,
                    headers: vec![("location".to_owned(), location)],
                    body: Vec::new(),
                },
                None => bad_redirect(),
            })
        }
        Some(Respond::Direct {
            status,
            body,
            content_type,
        }) => Some(LocalResponse {
            status: *status,
            headers: vec![("content-type".to_owned(), content_type.clone())],
            body: body.clone().into_bytes(),
        }),
    };
    let actions = &rule.rule;
    let request_edits = render(
        &actions.request_headers,
        request,
        &captures,
        rule,
        &mut dropped,
    )?;
    let response = render(
        &actions.response_headers,
        request,
        &captures,
        rule,
        &mut dropped,
    )?;
    // A path that cannot be sent (it kept a control character of the
    // request's) is not written: Envoy would refuse the whole request.
    let new_path = match &actions.rewrite {
        Some(rewrite) => {
            rewritten(rewrite, &request.path()?).and_then(|path| sendable(path, rule, &mut dropped))
        }
        None => None,
    };
    let split = match &actions.split {
        None => None,
        Some(s) => {
            let sticky = match &s.sticky {
                None => None,
                Some(StickyKey::Header(name)) => request
                    .header_text(name.as_str())?
                    .map(std::borrow::Cow::into_owned),
                Some(StickyKey::Cookie(name)) => {
                    let cookies = request.header_text("cookie")?.unwrap_or_default();
                    cookie(&cookies, name).map(str::to_owned)
                }
                Some(StickyKey::ClientAddress) => {
                    request.client_address(0)?.map(|a| a.to_text().into_owned())
                }
            };
            let target = match (sticky, &s.fallback) {
                (Some(key), _) => split::pick(s, &key),
                (None, Fallback::Value(v)) => s.targets.iter().find(|t| &t.value == v),
                (None, Fallback::Random) => {
                    // Envoy gives every request a random x-request-id.
                    let draw = match request.header_text("x-request-id")? {
                        Some(id) => id.into_owned(),
                        None => request.now().map(|t| format!("{t:?}")).unwrap_or_default(),
                    };
                    split::pick(s, &draw)
                }
            };
            target.and_then(|target| s.targets.iter().position(|t| t.value == target.value))
        }
    };
    Ok(Outcome {
        answer,
        request: request_edits,
        response,
        path: new_path,
        split,
        dropped,
    })
}

/// The answer when the proxy fails the filter: the request is not routed
/// by guesswork.
fn internal_error(err: &HostError) -> Flow {
    log::error!("meshwasm header-router: {err}");
    Flow::Respond(LocalResponse::json_error(
        500,
        "internal_error",
        "the request could not be routed",
    ))
}

impl Stage for HeaderRouterStage {
    fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
        match self.route(request) {
            Ok(flow) => flow,
            Err(err) => internal_error(&err),
        }
    }

    fn on_response_headers(&mut self, request: &mut Request<'_>) {
        if let Err(e) = apply(request, HeaderMap::Response, &self.response) {
            log::warn!("meshwasm header-router: response headers: {e}");
        }
    }
}

impl HeaderRouterStage {
    /// Runs the rules over the request.
    fn route(&mut self, request: &mut Request<'_>) -> Result<Flow, HostError> {
        let filter = Rc::clone(&self.filter);
        for name in &filter.owned {
            request.remove_header(HeaderMap::Request, name.as_str())?;
        }
        let mut changed = false;
        for rule in &filter.rules {
            if !rule.rule.matcher.matches(request)? {
                continue;
            }
            rule.matched.increment(request);
            let outcome = decide(rule, request)?;
            for _ in 0..outcome.dropped {
                rule.dropped.increment(request);
            }
            if let Some(answer) = outcome.answer {
                return Ok(Flow::Respond(answer));
            }
            let mut edits = outcome.request;
            if let Some(new) = outcome.path {
                edits.push(Edit::Set(":path".to_owned(), new));
            }
            if let Some((i, split)) = outcome.split.zip(rule.rule.split.as_ref()) {
                if let (Some(target), Some(counter)) = (split.targets.get(i), rule.split.get(i)) {
                    edits.push(Edit::Set(split.header.to_string(), target.value.clone()));
                    counter.increment(request);
                }
            }
            if let Err(e) = apply(request, HeaderMap::Request, &edits) {
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
            if let Err(e) = request.clear_route_cache() {
                log::debug!("meshwasm header-router: clear_route_cache: {e}");
            }
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
