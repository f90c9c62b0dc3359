//! The auth filter's work on one request: strip spoofable headers, find
//! the rule, try the methods it accepts, admit or deny.

use crate::basic::BasicOutcome;
use crate::config::{Method, TokenSource, MAX_CREDENTIAL_BYTES};
use crate::credentials;
use crate::ext_authz::Verdict;
use crate::filter::{seconds, token_time, Auth};
use crate::jwt::cache::Verified;
use crate::jwt::error::JwtError;
use crate::jwt::jwks::Fetch;
use crate::rules::{CompiledRule, Forbidden};
use meshwasm_core::request::{self, strip_prefix_ignore_case, Request};
use meshwasm_core::{CallResponse, Flow, HeaderMap, HostError, LocalResponse, Proxy, Stage};
use serde_json::Value;
use std::rc::Rc;

/// The auth filter's state for one request.
#[derive(Debug)]
pub struct AuthStage {
    filter: Rc<Auth>,
    /// The request's method and path.
    method: String,
    path: String,
    /// The rule that applies, by index.
    rule: usize,
    /// How far through the rule's methods the request is.
    next: usize,
    /// The first credential that was presented and refused.
    failure: Option<Failure>,
    /// What the request waits for.
    waiting: Waiting,
    /// Why the request passed or was refused, for the decision counter.
    reason: &'static str,
}

/// An outbound call the request is held for.
#[derive(Debug)]
enum Waiting {
    Nothing,
    /// A provider's keys, to verify `token` (found at `source`).
    Keys {
        call: u32,
        token: String,
        source: TokenSource,
    },
    /// The authorization service's verdict.
    Authz {
        call: u32,
    },
}

/// A credential that was presented and refused.
#[derive(Debug, Clone)]
enum Failure {
    ApiKey,
    Basic,
    Jwt(JwtError),
    Unreadable,
}

impl Failure {
    fn message(&self) -> String {
        match self {
            Self::ApiKey => "the API key is not valid".to_owned(),
            Self::Basic => "the user name or password is not valid".to_owned(),
            Self::Jwt(e) => e.to_string(),
            Self::Unreadable => "the credentials could not be read".to_owned(),
        }
    }
}

/// Who the caller turned out to be.
#[derive(Debug, Default)]
struct Identity {
    /// The method that accepted it, for the decision counter.
    via: &'static str,
    consumer: Option<String>,
    /// The verified JWT, for claims.
    token: Option<Rc<Verified>>,
    upstream_headers: Vec<(String, String)>,
}

/// One method's outcome for the request.
enum Step {
    /// The request carries no credential for it.
    Absent,
    /// It carries one, refused.
    Refused(Failure),
    /// It authenticates the caller.
    Admit(Identity),
    /// An outbound call decides.
    Wait(Waiting),
    /// The authorization service cannot be asked.
    Unavailable,
}

/// A host failure where failing open would let a forged identity through.
fn internal_error(err: &HostError) -> Flow {
    log::error!("meshwasm auth: {err}");
    Flow::Respond(LocalResponse::json_error(
        500,
        "internal_error",
        "the request could not be authenticated",
    ))
}

impl AuthStage {
    /// A stage for one request.
    pub fn new(filter: Rc<Auth>) -> Self {
        Self {
            filter,
            method: String::new(),
            path: String::new(),
            rule: 0,
            next: 0,
            failure: None,
            waiting: Waiting::Nothing,
            reason: "internal",
        }
    }

    fn rule(&self) -> &CompiledRule {
        self.filter.rules.get(self.rule)
    }

    /// Tries the rule's methods from where the request got to.
    fn try_methods(&mut self, request: &mut Request<'_>) -> Flow {
        let filter = Rc::clone(&self.filter);
        let rule = filter.rules.get(self.rule);
        while let Some(method) = rule.accept.get(self.next).copied() {
            self.next += 1;
            let step = match method {
                Method::ApiKey => self.api_key(request),
                Method::Basic => self.basic(request),
                Method::Jwt => self.jwt(request),
                Method::ExtAuthz => self.ext_authz(request),
            };
            match step {
                Step::Absent => {}
                Step::Refused(failure) => {
                    log::debug!(
                        "meshwasm auth: {} refused: {}",
                        method.name(),
                        failure.message()
                    );
                    self.failure.get_or_insert(failure);
                }
                Step::Admit(identity) => return self.admit(request, identity),
                Step::Wait(waiting) => {
                    self.waiting = waiting;
                    return Flow::Pause;
                }
                Step::Unavailable => return self.authz_unavailable(request),
            }
        }
        self.unauthorized()
    }

    fn api_key(&self, request: &Request<'_>) -> Step {
        let Some(keys) = &self.filter.api_keys else {
            return Step::Absent;
        };
        let found = match request.header_text(keys.header.as_str()) {
            Ok(Some(key)) => Some(key.into_owned()),
            Ok(None) => keys
                .query
                .as_ref()
                .and_then(|q| request::query_param(&self.path, q)),
            Err(_) => return Step::Refused(Failure::Unreadable),
        };
        match found {
            None => Step::Absent,
            Some(key) => match keys.consumer(&key) {
                Some(name) => Step::Admit(Identity {
                    via: "api_key",
                    consumer: Some(name.to_owned()),
                    ..Identity::default()
                }),
                None => Step::Refused(Failure::ApiKey),
            },
        }
    }

    fn basic(&self, request: &Request<'_>) -> Step {
        let Some(users) = &self.filter.basic else {
            return Step::Absent;
        };
        match request.header_text("authorization") {
            Ok(Some(value)) => match users.check(&value) {
                BasicOutcome::Absent => Step::Absent,
                BasicOutcome::Invalid => Step::Refused(Failure::Basic),
                BasicOutcome::Valid(name) => Step::Admit(Identity {
                    via: "basic",
                    consumer: Some(name.to_owned()),
                    ..Identity::default()
                }),
            },
            Ok(None) => Step::Absent,
            Err(_) => Step::Refused(Failure::Unreadable),
        }
    }

    /// The first token found at any provider's places.
    fn find_token(
        &self,
        request: &Request<'_>,
    ) -> Result<Option<(String, TokenSource)>, HostError> {
        let Some(jwt) = &self.filter.jwt else {
            return Ok(None);
        };
        for source in jwt.sources() {
            let token = match source {
                TokenSource::Header { name, prefix } => request
                    .header_text(name.as_str())?
                    .and_then(|v| match prefix {
                        Some(p) => strip_prefix_ignore_case(&v, p).map(|t| t.trim().to_owned()),
                        None => Some(v.into_owned()),
                    }),
                TokenSource::Query(name) => request::query_param(&self.path, name),
                TokenSource::Cookie(name) => request
                    .header_text("cookie")?
                    .and_then(|c| request::cookie(&c, name).map(str::to_owned)),
            };
            if let Some(token) = token.filter(|t| !t.is_empty()) {
                return Ok(Some((token, source.clone())));
            }
        }
        Ok(None)
    }

    fn jwt(&self, request: &mut Request<'_>) -> Step {
        let (token, source) = match self.find_token(request) {
            Ok(Some(found)) => found,
            Ok(None) => return Step::Absent,
            Err(_) => return Step::Refused(Failure::Unreadable),
        };
        self.verify_token(request, token, source, true)
    }

    /// Verifies a token; when the provider's remote keys may lack its key,
    /// and `may_fetch`, holds the request while they are fetched.
    fn verify_token(
        &self,
        request: &mut Request<'_>,
        token: String,
        source: TokenSource,
        may_fetch: bool,
    ) -> Step {
        let Some(jwt) = &self.filter.jwt else {
            return Step::Absent;
        };
        match jwt.authenticate(&token, &source, token_time(request)) {
            Ok(verified) => {
                let provider = jwt.providers.get(verified.provider);
                Step::Admit(Identity {
                    via: "jwt",
                    consumer: provider
                        .and_then(|p| verified.claims.get(&p.consumer_claim))
                        .and_then(scalar_text),
                    token: Some(verified),
                    upstream_headers: Vec::new(),
                })
            }
            Err(refusal) => {
                let fetch =
                    matches!(refusal.error, JwtError::NoKeys | JwtError::UnknownKid) && may_fetch;
                let remote = refusal
                    .provider
                    .filter(|_| fetch)
                    .and_then(|p| jwt.providers.get(p)?.remote());
                let started = remote.and_then(|remote| {
                    let now = seconds(request);
                    remote.borrow_mut().start(request, Fetch::UnknownKey, now)
                });
                match started {
                    Some(call) => Step::Wait(Waiting::Keys {
                        call,
                        token,
                        source,
                    }),
                    None => Step::Refused(Failure::Jwt(refusal.error)),
                }
            }
        }
    }

    fn ext_authz(&self, request: &mut Request<'_>) -> Step {
        let Some(authz) = &self.filter.ext_authz else {
            return Step::Absent;
        };
        let mut headers = Vec::new();
        for name in authz.request_headers() {
            match request.header(name.as_str()) {
                Ok(Some(value)) => match std::str::from_utf8(value) {
                    Ok(value) => headers.push((name.as_str().to_owned(), value.to_owned())),
                    Err(_) => return Step::Refused(Failure::Unreadable),
                },
                Ok(None) => {}
                Err(_) => return Step::Refused(Failure::Unreadable),
            }
        }
        let path = authz.check_path(&self.path);
        match request.dispatch(&authz.call(&self.method, &path, &headers)) {
            Ok(call) => Step::Wait(Waiting::Authz { call }),
            Err(e) => {
                log::warn!("meshwasm auth: cannot reach the authorization service: {e}");
                Step::Unavailable
            }
        }
    }

    /// The authorization service could not decide: the request passes if
    /// the configuration says so, and is refused with a 403 otherwise.
    fn authz_unavailable(&mut self, request: &mut Request<'_>) -> Flow {
        match &self.filter.ext_authz {
            Some(authz) if authz.failure_mode_allow() => self.admit(
                request,
                Identity {
                    via: "ext_authz_unavailable",
                    ..Identity::default()
                },
            ),
            _ => {
                self.reason = "ext_authz_unavailable";
                Flow::Respond(LocalResponse::json_error(
                    403,
                    "forbidden",
                    "the authorization service is unavailable",
                ))
            }
        }
    }

    /// Authorizes an authenticated caller and tells the upstream who it is.
    fn admit(&mut self, request: &mut Request<'_>, identity: Identity) -> Flow {
        let claims = identity.token.as_ref().map(|v| &v.claims);
        if let Err(why) = self.rule().authorize(identity.consumer.as_deref(), claims) {
            log::debug!("meshwasm auth: forbidden: {why}");
            self.reason = match why {
                Forbidden::Consumer => "consumer",
                Forbidden::Claim(_) => "claim",
            };
            return Flow::Respond(LocalResponse::json_error(
                403,
                "forbidden",
                &why.to_string(),
            ));
        }
        self.reason = identity.via;
        match self.tell_upstream(request, &identity) {
            Ok(()) => self.pass(request),
            Err(err) => internal_error(&err),
        }
    }

    /// Lets the request go upstream, without the credentials it must not
    /// carry there.
    fn pass(&self, request: &mut Request<'_>) -> Flow {
        match credentials::remove(request, &self.filter.unforwarded) {
            Ok(()) => Flow::Continue,
            Err(err) => internal_error(&err),
        }
    }

    fn tell_upstream(
        &self,
        request: &mut Request<'_>,
        identity: &Identity,
    ) -> Result<(), HostError> {
        let filter = &self.filter;
        if let Some(consumer) = identity.consumer.as_deref().filter(|c| header_safe(c)) {
            request.set_header(
                HeaderMap::Request,
                filter.config.identity_header.as_str(),
                consumer,
            )?;
        }
        for (name, value) in &identity.upstream_headers {
            request.set_header(HeaderMap::Request, name, value)?;
        }
        let Some(verified) = &identity.token else {
            return Ok(());
        };
        let copies = filter
            .jwt
            .as_ref()
            .and_then(|j| j.providers.get(verified.provider))
            .map_or(&[][..], |p| &p.claim_to_headers);
        for copy in copies {
            if let Some(value) = verified.claims.get(&copy.claim).and_then(scalar_text) {
                if header_safe(&value) {
                    request.set_header(HeaderMap::Request, copy.header.as_str(), &value)?;
                }
            }
        }
        Ok(())
    }

    fn unauthorized(&mut self) -> Flow {
        self.reason = match &self.failure {
            None => "missing_credentials",
            Some(Failure::ApiKey) => "invalid_api_key",
            Some(Failure::Basic) => "invalid_basic",
            Some(Failure::Jwt(_)) => "invalid_token",
            Some(Failure::Unreadable) => "unreadable",
        };
        let rule = self.rule();
        let bearer_error = match &self.failure {
            Some(Failure::Jwt(e)) => Some(e.to_string()),
            _ => None,
        };
        let mut answer = LocalResponse::json_error(
            401,
            "unauthorized",
            &self
                .failure
                .as_ref()
                .map_or_else(|| "credentials are required".to_owned(), Failure::message),
        );
        for method in &rule.accept {
            let challenge = match method {
                Method::Jwt => match &bearer_error {
                    Some(e) => format!(
                        "Bearer realm=\"meshwasm\", error=\"invalid_token\", error_description=\"{e}\""
                    ),
                    None => "Bearer realm=\"meshwasm\"".to_owned(),
                },
                Method::Basic => match &self.filter.basic {
                    Some(b) => format!("Basic realm=\"{}\", charset=\"UTF-8\"", b.realm),
                    None => continue,
                },
                Method::ApiKey => match &self.filter.api_keys {
                    Some(k) => format!("ApiKey realm=\"meshwasm\", header=\"{}\"", k.header),
                    None => continue,
                },
                Method::ExtAuthz => continue,
            };
            answer = answer.with_header("www-authenticate", &challenge);
        }
        Flow::Respond(answer)
    }
}

impl Stage for AuthStage {
    fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
        let flow = self.decide_request(request);
        self.count(request, &flow);
        flow
    }

    fn on_call_response(
        &mut self,
        request: &mut Request<'_>,
        token: u32,
        answer: &CallResponse,
    ) -> Flow {
        let flow = self.decide_call(request, token, answer);
        self.count(request, &flow);
        flow
    }
}

impl AuthStage {
    /// Counts a final decision in `meshwasm_auth_requests_total`.
    fn count(&self, request: &mut Request<'_>, flow: &Flow) {
        let decision = match flow {
            Flow::Pause => return,
            Flow::Continue => "allowed",
            Flow::Respond(answer) => match answer.status {
                401 => "unauthorized",
                403 => "forbidden",
                500 => "error",
                _ => "denied",
            },
        };
        self.filter
            .decisions
            .increment(request, &[decision, self.reason]);
    }

    fn decide_request(&mut self, request: &mut Request<'_>) -> Flow {
        match (request.method(), request.path()) {
            (Ok(method), Ok(path)) => {
                (self.method, self.path) = (method.into_owned(), path.into_owned());
            }
            (Err(err), _) | (_, Err(err)) => return internal_error(&err),
        }
        // Read first, so that removing a header the request does not have
        // costs nothing; removed before any rule or method looks.
        for name in &self.filter.owned_headers {
            if let Err(err) = request.remove_header(HeaderMap::Request, name) {
                return internal_error(&err);
            }
        }
        self.rule = match self.filter.rules.find(request) {
            Ok(rule) => rule,
            Err(err) => return internal_error(&err),
        };
        if self.rule().anonymous {
            self.reason = "anonymous";
            return self.pass(request);
        }
        self.try_methods(request)
    }

    fn decide_call(
        &mut self,
        request: &mut Request<'_>,
        token: u32,
        answer: &CallResponse,
    ) -> Flow {
        match std::mem::replace(&mut self.waiting, Waiting::Nothing) {
            Waiting::Keys {
                call,
                token: jwt,
                source,
            } if call == token => {
                if let Some(keys) = &self.filter.jwt {
                    keys.take_keys(call, answer, seconds(request));
                }
                match self.verify_token(request, jwt, source, false) {
                    Step::Admit(identity) => return self.admit(request, identity),
                    Step::Refused(failure) => {
                        self.failure.get_or_insert(failure);
                    }
                    Step::Absent | Step::Wait(_) | Step::Unavailable => {}
                }
                self.try_methods(request)
            }
            Waiting::Authz { call } if call == token => {
                match self.filter.ext_authz.as_ref().map(|a| a.verdict(answer)) {
                    Some(Verdict::Allow {
                        upstream_headers,
                        consumer,
                    }) => self.admit(
                        request,
                        Identity {
                            via: "ext_authz",
                            consumer,
                            upstream_headers,
                            ..Identity::default()
                        },
                    ),
                    Some(Verdict::Deny(response)) => {
                        self.reason = "ext_authz_denied";
                        Flow::Respond(response)
                    }
                    Some(Verdict::Unavailable) | None => self.authz_unavailable(request),
                }
            }
            other => {
                // Not the call this request waits for: keep waiting.
                self.waiting = other;
                Flow::Pause
            }
        }
    }
}

/// A string, number or boolean claim as header text.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether a value may go in a header: no control characters, bounded.
fn header_safe(value: &str) -> bool {
    value.len() <= MAX_CREDENTIAL_BYTES && !value.chars().any(char::is_control)
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
