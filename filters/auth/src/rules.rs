//! Which requests need what: ordered rules by path and method, and who may
//! pass once authenticated.

use crate::config::{AuthConfig, Method, Rule};
use crate::jwt::claims::claim_has;
use meshwasm_core::matcher::RequestMatch;
use meshwasm_core::request::Request;
use meshwasm_core::HostError;
use serde_json::{Map, Value};

/// A rule ready to apply.
#[derive(Debug)]
pub struct CompiledRule {
    matcher: RequestMatch,
    /// Requests pass without credentials.
    pub anonymous: bool,
    /// The methods tried, in order.
    pub accept: Vec<Method>,
    consumers: Vec<String>,
    claims: Vec<(String, String)>,
}

/// Why an authenticated caller may not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forbidden {
    /// The consumer is not on the rule's list.
    Consumer,
    /// A required claim is missing or has another value.
    Claim(String),
}

impl std::fmt::Display for Forbidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Consumer => f.write_str("this consumer may not call this path"),
            Self::Claim(claim) => write!(f, "the token lacks the required `{claim}`"),
        }
    }
}

impl CompiledRule {
    fn new(rule: &Rule, configured: &[Method]) -> Self {
        let accept = if rule.accept.is_empty() {
            configured.to_vec()
        } else {
            // Tried in the filter's order, whatever order the rule lists.
            configured
                .iter()
                .copied()
                .filter(|m| rule.accept.contains(m))
                .collect()
        };
        Self {
            matcher: rule.matcher.clone(),
            anonymous: rule.anonymous,
            accept,
            consumers: rule.consumers.clone(),
            claims: rule
                .claims
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Whether an authenticated caller may pass: its consumer is allowed,
    /// and its token (if it has one) carries the required claims.
    pub fn authorize(
        &self,
        consumer: Option<&str>,
        claims: Option<&Map<String, Value>>,
    ) -> Result<(), Forbidden> {
        if !self.consumers.is_empty()
            && !consumer.is_some_and(|c| self.consumers.iter().any(|allowed| allowed == c))
        {
            return Err(Forbidden::Consumer);
        }
        for (name, value) in &self.claims {
            if !claims.is_some_and(|c| claim_has(c, name, value)) {
                return Err(Forbidden::Claim(name.clone()));
            }
        }
        Ok(())
    }
}

/// The rules in order, and the default for requests none matches: any
/// configured method, any consumer.
#[derive(Debug)]
pub struct Rules {
    rules: Vec<CompiledRule>,
    fallback: CompiledRule,
}

impl Rules {
    /// Compiles the rules.
    pub fn new(config: &AuthConfig) -> Self {
        let configured = config.methods();
        Self {
            rules: config
                .rules
                .iter()
                .map(|r| CompiledRule::new(r, &configured))
                .collect(),
            fallback: CompiledRule::new(&Rule::default(), &configured),
        }
    }

    /// The index of the first rule that matches the request, or of the
    /// default.
    pub fn find(&self, request: &Request<'_>) -> Result<usize, HostError> {
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.matcher.matches(request)? {
                return Ok(i);
            }
        }
        Ok(self.rules.len())
    }

    /// The rule at an index [`Rules::find`] gave.
    pub fn get(&self, index: usize) -> &CompiledRule {
        self.rules.get(index).unwrap_or(&self.fallback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshwasm_core::testing::FakeHost;
    use serde_json::json;

    fn rules(json: &str) -> Rules {
        Rules::new(&meshwasm_core::config::parse(json.as_bytes()).unwrap())
    }

    impl Rules {
        fn lookup(&self, method: &str, path: &str) -> &CompiledRule {
            let mut host = FakeHost::with_request(&[(":method", method), (":path", path)]);
            let index = self.find(&host.view()).unwrap();
            self.get(index)
        }
    }

    const CONFIG: &str = r#"{
        "api_key": {"consumers": [{"name": "alice", "key": "k"}]},
        "jwt": {"providers": [{"name": "p", "jwks": {"keys": []}}]},
        "rules": [
            {"match": {"path": {"exact": "/health"}}, "anonymous": true},
            {"match": {"path": {"prefix": "/admin/"}}, "accept": ["jwt"], "claims": {"scope": "admin"}},
            {"match": {"path": {"prefix": "/orders"}, "methods": ["POST"]}, "consumers": ["alice"]}
        ]
    }"#;

    #[test]
    fn the_first_matching_rule_applies() {
        let rules = rules(CONFIG);
        assert!(rules.lookup("GET", "/health?x").anonymous);
        assert!(!rules.lookup("GET", "/health/x").anonymous);
        assert_eq!(rules.lookup("GET", "/admin/x").accept, [Method::Jwt]);
        assert_eq!(
            rules.lookup("GET", "/orders").accept,
            [Method::ApiKey, Method::Jwt]
        );
    }

    #[test]
    fn authorization_checks_consumers_and_claims() {
        let rules = rules(CONFIG);
        let orders = rules.lookup("POST", "/orders");
        assert_eq!(orders.authorize(Some("alice"), None), Ok(()));
        assert_eq!(
            orders.authorize(Some("bob"), None),
            Err(Forbidden::Consumer)
        );
        assert_eq!(orders.authorize(None, None), Err(Forbidden::Consumer));
        let admin = rules.lookup("GET", "/admin/users");
        let claims = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            admin.authorize(Some("u"), Some(&claims(json!({"scope": "read admin"})))),
            Ok(())
        );
        assert_eq!(
            admin.authorize(Some("u"), Some(&claims(json!({"scope": "read"})))),
            Err(Forbidden::Claim("scope".into()))
        );
        assert_eq!(
            admin.authorize(Some("u"), None),
            Err(Forbidden::Claim("scope".into()))
        );
    }

    #[test]
    fn contradictory_rules_are_refused() {
        let cases = [
            (
                r#"{"api_key": {"consumers": [{"name": "a", "key": "k"}]}, "rules": [{"anonymous": true, "consumers": ["a"]}]}"#,
                "rules[0].anonymous",
            ),
            (
                r#"{"api_key": {"consumers": [{"name": "a", "key": "k"}]}, "rules": [{"accept": ["basic"]}]}"#,
                "rules[0].accept[0]",
            ),
            (
                r#"{"api_key": {"consumers": [{"name": "a", "key": "k"}]}, "rules": [{"claims": {"scope": "x"}}]}"#,
                "rules[0].claims",
            ),
            (
                r#"{"api_key": {"consumers": [{"name": "a", "key": "k"}]}, "rules": [{"match": {"path": {"prefix": "x"}}}]}"#,
                "rules[0].match.path",
            ),
            (r#"{"rules": []}"#, ""),
        ];
        for (json, field) in cases {
            let err = meshwasm_core::config::parse::<AuthConfig>(json.as_bytes()).unwrap_err();
            assert_eq!(err.field(), field, "{json}: {err}");
        }
    }
}
