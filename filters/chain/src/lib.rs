//! All four meshwasm filters in one module and one Wasm context, in the
//! order a sidecar wants them: metrics (so it sees every answer), auth,
//! rate-limit, header-router. A request crosses into the VM once per phase
//! instead of once per filter and phase.
//!
//! The configuration is one object with each filter's configuration under
//! its name; a filter left out is not in the chain:
//!
//! ```json
//! {"metrics": {...}, "auth": {...}, "rate_limit": {...}, "header_router": {...}}
//! ```

use meshwasm_auth::config::AuthConfig;
use meshwasm_auth::stage::AuthStage;
use meshwasm_auth::Auth;
use meshwasm_core::chain::Chain;
use meshwasm_core::config::compile_section;
use meshwasm_core::{CallResponse, ConfigError, Filter, Proxy, Validate};
use meshwasm_header_router::config::HeaderRouterConfig;
use meshwasm_header_router::stage::HeaderRouterStage;
use meshwasm_header_router::HeaderRouter;
use meshwasm_metrics::config::MetricsConfig;
use meshwasm_metrics::stage::MetricsStage;
use meshwasm_metrics::Metrics;
use meshwasm_rate_limit::config::RateLimitConfig;
use meshwasm_rate_limit::stage::RateLimitStage;
use meshwasm_rate_limit::RateLimit;
use serde::Deserialize;
use std::rc::Rc;
use std::time::Duration;

/// The combined module's configuration: each filter's own, by name.
#[derive(Debug, Clone, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct ChainConfig {
    /// The metrics filter's configuration.
    #[serde(default)]
    pub metrics: Option<MetricsConfig>,
    /// The auth filter's configuration.
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// The rate-limit filter's configuration.
    #[serde(default)]
    pub rate_limit: Option<RateLimitConfig>,
    /// The header-router filter's configuration.
    #[serde(default)]
    pub header_router: Option<HeaderRouterConfig>,
}

/// Validates a part, naming its fields under the part's name.
fn part<C: Validate>(name: &str, config: Option<&C>) -> Result<(), ConfigError> {
    config.map_or(Ok(()), |c| c.validate().map_err(|e| e.within(name)))
}

impl Validate for ChainConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        part("metrics", self.metrics.as_ref())?;
        part("auth", self.auth.as_ref())?;
        part("rate_limit", self.rate_limit.as_ref())?;
        part("header_router", self.header_router.as_ref())
    }
}

/// Builds a part's filter.
fn build<F: Filter>(name: &str, config: Option<F::Config>) -> Result<Option<Rc<F>>, ConfigError> {
    compile_section(name, config, |c| F::new(c).map(Rc::new))
}

/// The configured filters, in chain order.
#[derive(Debug)]
pub struct MeshChain {
    metrics: Option<Rc<Metrics>>,
    auth: Option<Rc<Auth>>,
    rate_limit: Option<Rc<RateLimit>>,
    header_router: Option<Rc<HeaderRouter>>,
}

/// The four stages in order; an unconfigured one passes everything.
pub type ChainStage = Chain<
    Option<MetricsStage>,
    Chain<Option<AuthStage>, Chain<Option<RateLimitStage>, Option<HeaderRouterStage>>>,
>;

impl MeshChain {
    /// The filters that do work off the request path (timers, calls).
    fn background(&self) -> [Option<&dyn Background>; 2] {
        [
            self.auth.as_deref().map(|a| a as &dyn Background),
            self.rate_limit.as_deref().map(|r| r as &dyn Background),
        ]
    }
}

/// A filter's timer and call-answer hooks, whatever its type.
trait Background {
    fn period(&self) -> Option<Duration>;
    fn tick(&self, proxy: &mut dyn Proxy);
    fn answer(&self, proxy: &mut dyn Proxy, token: u32, response: &CallResponse);
}

impl<F: Filter> Background for F {
    fn period(&self) -> Option<Duration> {
        self.tick_period()
    }

    fn tick(&self, proxy: &mut dyn Proxy) {
        self.on_tick(proxy);
    }

    fn answer(&self, proxy: &mut dyn Proxy, token: u32, response: &CallResponse) {
        self.on_call_response(proxy, token, response);
    }
}

impl Filter for MeshChain {
    const NAME: &'static str = "chain";
    type Config = ChainConfig;
    type Stage = ChainStage;

    fn new(config: ChainConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            metrics: build("metrics", config.metrics)?,
            auth: build("auth", config.auth)?,
            rate_limit: build("rate_limit", config.rate_limit)?,
            header_router: build("header_router", config.header_router)?,
        })
    }

    fn stage(self: &Rc<Self>) -> ChainStage {
        Chain::new(
            self.metrics.as_ref().map(Filter::stage),
            Chain::new(
                self.auth.as_ref().map(Filter::stage),
                Chain::new(
                    self.rate_limit.as_ref().map(Filter::stage),
                    self.header_router.as_ref().map(Filter::stage),
                ),
            ),
        )
    }

    fn grpc_field(&self) -> Option<String> {
        self.rate_limit
            .as_ref()
            .and_then(|r| r.grpc_field())
            .map(|field| format!("rate_limit.{field}"))
    }

    fn tick_period(&self) -> Option<Duration> {
        self.background()
            .into_iter()
            .flatten()
            .filter_map(Background::period)
            .min()
    }

    fn on_tick(&self, proxy: &mut dyn Proxy) {
        for filter in self.background().into_iter().flatten() {
            filter.tick(proxy);
        }
    }

    fn on_call_response(&self, proxy: &mut dyn Proxy, token: u32, response: &CallResponse) {
        for filter in self.background().into_iter().flatten() {
            filter.answer(proxy, token, response);
        }
    }
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(MeshChain);

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(MeshChain);

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::testing::FakeHost;
    use meshwasm_core::{Flow, HeaderMap, Stage};
    use serde_json::json;

    fn chain(config: serde_json::Value) -> Result<Rc<MeshChain>, ConfigError> {
        let config = meshwasm_core::config::parse(config.to_string().as_bytes())?;
        MeshChain::new(config).map(Rc::new)
    }

    fn full() -> serde_json::Value {
        json!({
            "metrics": {"consumer_header": "x-meshwasm-consumer"},
            "auth": {"api_key": {"consumers": [{"name": "alice", "key": "k"}]}},
            "rate_limit": {"rules": [{"name": "per-consumer", "key": [{"header": "x-meshwasm-consumer"}],
                                      "limit": {"requests": 1, "per": "minute"}}]},
            "header_router": {"rules": [{"name": "tag", "request_headers": {"set": [{"name": "x-routed", "value": "{header.x-meshwasm-consumer}"}]}}]}
        })
    }

    fn request(
        chain: &Rc<MeshChain>,
        proxy: &FakeHost,
        headers: &[(&str, &str)],
    ) -> (Flow, FakeHost) {
        let mut all = vec![(":method", "GET"), (":path", "/")];
        all.extend_from_slice(headers);
        let mut host = proxy.sharing(&all);
        let mut stage = chain.stage();
        let flow = stage.on_request_headers(&mut host.view());
        stage.on_log(&mut host.view());
        (flow, host)
    }

    #[test]
    fn the_four_stages_run_in_sidecar_order() {
        let chain = chain(full()).unwrap();
        let proxy = FakeHost::new();
        let (flow, host) = request(&chain, &proxy, &[("x-api-key", "k")]);
        assert_eq!(flow, Flow::Continue);
        // auth named the consumer before the rate limit keyed on it and the
        // router copied it.
        assert_eq!(host.values(HeaderMap::Request, "x-routed"), ["alice"]);
        let (flow, _) = request(&chain, &proxy, &[("x-api-key", "k")]);
        assert!(
            matches!(flow, Flow::Respond(ref a) if a.status == 429),
            "{flow:?}"
        );
        let (flow, _) = request(&chain, &proxy, &[]);
        assert!(
            matches!(flow, Flow::Respond(ref a) if a.status == 401),
            "{flow:?}"
        );
        // metrics, first, saw all three answers.
        let seen: Vec<_> = proxy
            .metrics()
            .into_iter()
            .filter(|m| m.name.ends_with("meshwasm_requests_total"))
            .collect();
        assert_eq!(seen.iter().map(|m| m.value).sum::<i64>(), 3);
    }

    #[test]
    fn a_filter_left_out_is_not_in_the_chain() {
        let chain = chain(json!({"header_router": full()["header_router"]})).unwrap();
        let (flow, host) = request(&chain, &FakeHost::new(), &[("x-meshwasm-consumer", "bob")]);
        assert_eq!(flow, Flow::Continue);
        assert_eq!(host.values(HeaderMap::Request, "x-routed"), ["bob"]);
        assert_eq!(chain.tick_period(), None);
    }

    #[test]
    fn errors_name_the_part_and_its_field() {
        let mut bad = full();
        bad["rate_limit"]["rules"][0]["limit"]["requests"] = json!(0);
        let err = chain(bad).unwrap_err();
        assert_eq!(err.field(), "rate_limit.rules[0].limit.requests");
        let err = chain(json!({"auth": {"api_key": {"consumers": []}}})).unwrap_err();
        assert_eq!(err.field(), "auth.api_key.consumers");
        let err = chain(json!({"ratelimit": {}})).unwrap_err();
        assert!(err.reason().contains("unknown field `ratelimit`"), "{err}");
    }

    #[test]
    fn timers_run_when_a_filter_needs_them() {
        let chain = chain(full()).unwrap();
        assert_eq!(chain.tick_period(), Some(Duration::from_secs(1)));
    }
}

#[cfg(test)]
mod props;
