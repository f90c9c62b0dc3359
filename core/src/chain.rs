//! Several stages in one Wasm context: one VM crossing per request phase
//! instead of one per filter.

use crate::request::Request;
use crate::stage::{CallResponse, Flow, GrpcResponse, Stage};

/// Runs `first`, then `second`, as Envoy would run two filters in a row:
/// requests go through `first` then `second`, responses come back through
/// `second` then `first`. A stage that answers locally stops the request
/// there, and stages after it never see the request or the answer. A stage
/// that holds the request for a call gets the call's answer, and the
/// request moves on to `second` when `first` lets it.
///
/// Chains nest: `Chain<A, Chain<B, C>>` runs three stages.
#[derive(Debug)]
pub struct Chain<A, B> {
    first: A,
    second: B,
    /// How far the request got.
    at: Reached,
}

/// Which stage has the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    First,
    Second,
}

impl<A: Stage, B: Stage> Chain<A, B> {
    /// A chain of two stages.
    pub fn new(first: A, second: B) -> Self {
        Self {
            first,
            second,
            at: Reached::First,
        }
    }

    /// Hands a call's answer to the stage that holds the request, and the
    /// request on to `second` if `first` lets it go.
    fn answered(
        &mut self,
        request: &mut Request<'_>,
        first: impl FnOnce(&mut A, &mut Request<'_>) -> Flow,
        second: impl FnOnce(&mut B, &mut Request<'_>) -> Flow,
    ) -> Flow {
        match self.at {
            Reached::First => {
                let flow = first(&mut self.first, request);
                self.after_first(request, flow)
            }
            Reached::Second => second(&mut self.second, request),
        }
    }

    /// Hands the request to `second` once `first` let it go.
    fn after_first(&mut self, request: &mut Request<'_>, flow: Flow) -> Flow {
        match flow {
            Flow::Continue => {
                self.at = Reached::Second;
                self.second.on_request_headers(request)
            }
            other => other,
        }
    }
}

impl<A: Stage, B: Stage> Stage for Chain<A, B> {
    fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
        let flow = self.first.on_request_headers(request);
        self.after_first(request, flow)
    }

    fn on_call_response(
        &mut self,
        request: &mut Request<'_>,
        token: u32,
        response: &CallResponse,
    ) -> Flow {
        self.answered(
            request,
            |first, r| first.on_call_response(r, token, response),
            |second, r| second.on_call_response(r, token, response),
        )
    }

    fn on_grpc_response(
        &mut self,
        request: &mut Request<'_>,
        token: u32,
        response: &GrpcResponse,
    ) -> Flow {
        self.answered(
            request,
            |first, r| first.on_grpc_response(r, token, response),
            |second, r| second.on_grpc_response(r, token, response),
        )
    }

    fn on_request_seen(&mut self, request: &Request<'_>) {
        self.first.on_request_seen(request);
        if self.at == Reached::Second {
            self.second.on_request_seen(request);
        }
    }

    fn on_response_headers(&mut self, request: &mut Request<'_>) {
        if self.at == Reached::Second {
            self.second.on_response_headers(request);
        }
        self.first.on_response_headers(request);
    }

    fn on_log(&mut self, request: &mut Request<'_>) {
        // Envoy logs every filter of the chain, whether or not the request
        // reached it.
        self.first.on_log(request);
        self.second.on_log(request);
    }
}

/// A stage that may be absent: an absent one lets everything through, so
/// a combined module can leave out filters it was not configured with.
impl<S: Stage> Stage for Option<S> {
    fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
        self.as_mut()
            .map_or(Flow::Continue, |s| s.on_request_headers(request))
    }

    fn on_call_response(
        &mut self,
        request: &mut Request<'_>,
        token: u32,
        response: &CallResponse,
    ) -> Flow {
        self.as_mut().map_or(Flow::Continue, |s| {
            s.on_call_response(request, token, response)
        })
    }

    fn on_grpc_response(
        &mut self,
        request: &mut Request<'_>,
        token: u32,
        response: &GrpcResponse,
    ) -> Flow {
        self.as_mut().map_or(Flow::Continue, |s| {
            s.on_grpc_response(request, token, response)
        })
    }

    fn on_request_seen(&mut self, request: &Request<'_>) {
        if let Some(s) = self {
            s.on_request_seen(request);
        }
    }

    fn on_response_headers(&mut self, request: &mut Request<'_>) {
        if let Some(s) = self {
            s.on_response_headers(request);
        }
    }

    fn on_log(&mut self, request: &mut Request<'_>) {
        if let Some(s) = self {
            s.on_log(request);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::{HeaderMap, LocalResponse};
    use crate::testing::FakeHost;

    /// Appends its name to `x-trace` on the way in and out; denies, or
    /// waits for a call, when told to.
    struct Tracer {
        name: &'static str,
        deny: bool,
        wait: bool,
    }

    impl Stage for Tracer {
        fn on_request_headers(&mut self, request: &mut Request<'_>) -> Flow {
            request
                .add_header(HeaderMap::Request, "x-trace", self.name)
                .unwrap();
            if self.deny {
                Flow::Respond(LocalResponse::json_error(403, "denied", self.name))
            } else if self.wait {
                Flow::Pause
            } else {
                Flow::Continue
            }
        }

        fn on_call_response(
            &mut self,
            request: &mut Request<'_>,
            _: u32,
            r: &CallResponse,
        ) -> Flow {
            let status = r.status.map_or("none".to_owned(), |s| s.to_string());
            request
                .add_header(
                    HeaderMap::Request,
                    "x-answer",
                    &format!("{}:{status}", self.name),
                )
                .unwrap();
            Flow::Continue
        }

        fn on_response_headers(&mut self, request: &mut Request<'_>) {
            request
                .add_header(HeaderMap::Response, "x-trace", self.name)
                .unwrap();
        }
    }

    fn tracer(name: &'static str) -> Tracer {
        Tracer {
            name,
            deny: false,
            wait: false,
        }
    }

    #[test]
    fn requests_run_forward_and_responses_backward() {
        let mut chain = Chain::new(tracer("a"), Chain::new(tracer("b"), tracer("c")));
        let mut host = FakeHost::new();
        assert_eq!(chain.on_request_headers(&mut host.view()), Flow::Continue);
        chain.on_response_headers(&mut host.view());
        assert_eq!(host.values(HeaderMap::Request, "x-trace"), ["a", "b", "c"]);
        assert_eq!(host.values(HeaderMap::Response, "x-trace"), ["c", "b", "a"]);
    }

    #[test]
    fn a_local_answer_stops_the_chain() {
        let deny = Tracer {
            deny: true,
            ..tracer("b")
        };
        let mut chain = Chain::new(tracer("a"), Chain::new(deny, tracer("c")));
        let mut host = FakeHost::new();
        let Flow::Respond(answer) = chain.on_request_headers(&mut host.view()) else {
            panic!("expected a local answer");
        };
        assert_eq!(answer.status, 403);
        chain.on_response_headers(&mut host.view());
        assert_eq!(host.values(HeaderMap::Request, "x-trace"), ["a", "b"]);
        assert_eq!(host.values(HeaderMap::Response, "x-trace"), ["b", "a"]);
    }

    #[test]
    fn an_absent_stage_lets_everything_through() {
        let mut chain = Chain::new(None::<Tracer>, Some(tracer("b")));
        let mut host = FakeHost::new();
        assert_eq!(chain.on_request_headers(&mut host.view()), Flow::Continue);
        chain.on_response_headers(&mut host.view());
        assert_eq!(host.values(HeaderMap::Request, "x-trace"), ["b"]);
        assert_eq!(host.values(HeaderMap::Response, "x-trace"), ["b"]);
    }

    #[test]
    fn a_held_request_moves_on_when_its_call_is_answered() {
        let wait = Tracer {
            wait: true,
            ..tracer("b")
        };
        let mut chain = Chain::new(tracer("a"), Chain::new(wait, tracer("c")));
        let mut host = FakeHost::new();
        assert_eq!(chain.on_request_headers(&mut host.view()), Flow::Pause);
        assert_eq!(host.values(HeaderMap::Request, "x-trace"), ["a", "b"]);
        let answer = CallResponse {
            status: Some(200),
            ..CallResponse::default()
        };
        assert_eq!(
            chain.on_call_response(&mut host.view(), 1, &answer),
            Flow::Continue
        );
        assert_eq!(host.values(HeaderMap::Request, "x-answer"), ["b:200"]);
        assert_eq!(host.values(HeaderMap::Request, "x-trace"), ["a", "b", "c"]);
    }
}
