//! The meshwasm header-router filter: matches requests, rewrites headers
//! and paths, and splits traffic so that Envoy routes it elsewhere.
//!
//! This stage parses and validates the rules; applying them is the next
//! step, and until then the filter says so in Envoy's log and passes every
//! request unchanged.

pub mod config;

use config::HeaderRouterConfig;
use meshwasm_core::{ConfigError, Filter, Stage};
use std::rc::Rc;

/// The configured header-router filter.
#[derive(Debug)]
pub struct HeaderRouter;

impl Filter for HeaderRouter {
    const NAME: &'static str = "header-router";
    type Config = HeaderRouterConfig;
    type Stage = HeaderRouterStage;

    fn new(config: HeaderRouterConfig) -> Result<Self, ConfigError> {
        if !config.rules.is_empty() {
            log::warn!(
                "meshwasm header-router: {} rule(s) validated; this build does not apply them yet",
                config.rules.len()
            );
        }
        Ok(Self)
    }

    fn stage(self: &Rc<Self>) -> HeaderRouterStage {
        HeaderRouterStage
    }
}

/// The header-router filter's work on one request.
#[derive(Debug)]
pub struct HeaderRouterStage;

impl Stage for HeaderRouterStage {}

#[cfg(all(target_arch = "wasm32", feature = "module"))]
meshwasm_core::export_filter!(HeaderRouter);
