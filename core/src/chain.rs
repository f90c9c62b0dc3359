//! Several stages in one Wasm context: one VM crossing per request phase
//! instead of one per filter.

use crate::stage::{Flow, Host, Stage};

/// Runs `first`, then `second`, as Envoy would run two filters in a row:
/// requests go through `first` then `second`, responses come back through
/// `second` then `first`. A stage that answers locally stops the request
/// there, and stages after it never see the request or the answer.
///
/// Chains nest: `Chain<A, Chain<B, C>>` runs three stages.
#[derive(Debug, Default)]
pub struct Chain<A, B> {
    first: A,
    second: B,
    second_ran: bool,
}

impl<A: Stage, B: Stage> Chain<A, B> {
    /// A chain of two stages.
    pub fn new(first: A, second: B) -> Self {
        Self {
            first,
            second,
            second_ran: false,
        }
    }
}

impl<A: Stage, B: Stage> Stage for Chain<A, B> {
    fn on_request_headers(&mut self, host: &mut dyn Host) -> Flow {
        match self.first.on_request_headers(host) {
            Flow::Continue => {
                self.second_ran = true;
                self.second.on_request_headers(host)
            }
            respond => respond,
        }
    }

    fn on_response_headers(&mut self, host: &mut dyn Host) {
        if self.second_ran {
            self.second.on_response_headers(host);
        }
        self.first.on_response_headers(host);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stage::{HeaderMap, LocalResponse};
    use crate::testing::FakeHost;

    /// Appends its name to `x-trace` on the way in and out; denies when
    /// told to.
    struct Tracer {
        name: &'static str,
        deny: bool,
    }

    impl Stage for Tracer {
        fn on_request_headers(&mut self, host: &mut dyn Host) -> Flow {
            host.add_header(HeaderMap::Request, "x-trace", self.name)
                .unwrap();
            if self.deny {
                Flow::Respond(LocalResponse::json_error(403, "denied", self.name))
            } else {
                Flow::Continue
            }
        }

        fn on_response_headers(&mut self, host: &mut dyn Host) {
            host.add_header(HeaderMap::Response, "x-trace", self.name)
                .unwrap();
        }
    }

    fn tracer(name: &'static str) -> Tracer {
        Tracer { name, deny: false }
    }

    #[test]
    fn requests_run_forward_and_responses_backward() {
        let mut chain = Chain::new(tracer("a"), Chain::new(tracer("b"), tracer("c")));
        let mut host = FakeHost::new();
        assert_eq!(chain.on_request_headers(&mut host), Flow::Continue);
        chain.on_response_headers(&mut host);
        assert_eq!(host.values(HeaderMap::Request, "x-trace"), ["a", "b", "c"]);
        assert_eq!(host.values(HeaderMap::Response, "x-trace"), ["c", "b", "a"]);
    }

    #[test]
    fn a_local_answer_stops_the_chain() {
        let deny = Tracer {
            name: "b",
            deny: true,
        };
        let mut chain = Chain::new(tracer("a"), Chain::new(deny, tracer("c")));
        let mut host = FakeHost::new();
        let Flow::Respond(answer) = chain.on_request_headers(&mut host) else {
            panic!("expected a local answer");
        };
        assert_eq!(answer.status, 403);
        chain.on_response_headers(&mut host);
        assert_eq!(host.values(HeaderMap::Request, "x-trace"), ["a", "b"]);
        assert_eq!(host.values(HeaderMap::Response, "x-trace"), ["b", "a"]);
    }
}
