//! The meshwasm header-router filter: matches requests, rewrites headers
//! and paths, splits traffic (weighted, sticky) by writing a route header,
//! and answers directly with redirects or fixed responses. After it changes
//! a request, Envoy picks the route again, so the route table can send the
//! request to another cluster.

pub mod config;
pub mod filter;
pub mod split;
pub mod stage;
pub mod template;

pub use filter::HeaderRouter;

use config::HeaderRouterConfig;
use meshwasm_core::{ConfigError, Filter};
use stage::HeaderRouterStage;
use std::rc::Rc;

impl Filter for HeaderRouter {
    const NAME: &'static str = "header-router";
    type Config = HeaderRouterConfig;
    type Stage = HeaderRouterStage;

    fn new(config: HeaderRouterConfig) -> Result<Self, ConfigError> {
        Self::compile(config)
    }

    fn stage(self: &Rc<Self>) -> HeaderRouterStage {
        HeaderRouterStage::new(Rc::clone(self))
    }
}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(HeaderRouter);

#[cfg(all(not(target_arch = "wasm32"), feature = "native"))]
meshwasm_core::export_native_filter!(HeaderRouter);
