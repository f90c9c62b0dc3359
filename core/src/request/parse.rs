//! Reading parts of a request out of its headers: query parameters,
//! cookies, header prefixes. Pure string work, bounded by what Envoy hands
//! over.

use crate::hex;

/// A query parameter of `path`, percent-decoded; `None` when absent or not
/// valid UTF-8 once decoded. The first occurrence wins.
pub fn query_param(path: &str, name: &str) -> Option<String> {
    let (_, query) = path.split_once('?')?;
    query
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| percent_decode(k).as_deref() == Some(name))
        .and_then(|(_, v)| percent_decode(v))
}

/// `path` without every occurrence of query parameter `name`.
pub fn without_query_param(path: &str, name: &str) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k);
            percent_decode(key).as_deref() != Some(name)
        })
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// A `Cookie` header without cookie `name`; `None` when nothing is left.
pub fn without_cookie(header: &str, name: &str) -> Option<String> {
    let kept: Vec<&str> = header
        .split(';')
        .map(str::trim)
        .filter(|c| !c.is_empty() && c.split_once('=').map_or(*c, |(k, _)| k) != name)
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}

/// `value` after `prefix`, compared ASCII case-insensitively
/// (`bearer x` and `Bearer x` both give `x`).
pub fn strip_prefix_ignore_case<'a>(value: &'a str, prefix: &str) -> Option<&'a str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| value.get(prefix.len()..))
        .flatten()
}

/// Decodes `%XX` escapes and `+` (as space); `None` for a bad escape or a
/// result that is not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'%' => {
                let hi = hex::digit(bytes.next()?)?;
                let lo = hex::digit(bytes.next()?)?;
                out.push(hi << 4 | lo);
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_found_and_decoded() {
        let path = "/a?x=1&api%5Fkey=k%2B1+2&api_key=second&flag";
        assert_eq!(query_param(path, "api_key").as_deref(), Some("k+1 2"));
        assert_eq!(query_param(path, "x").as_deref(), Some("1"));
        assert_eq!(query_param(path, "flag").as_deref(), Some(""));
        assert_eq!(query_param(path, "y"), None);
        assert_eq!(query_param("/a", "x"), None);
        assert_eq!(query_param("/a?x=%zz", "x"), None);
        assert_eq!(query_param("/a?x=%ff", "x"), None);
    }

    #[test]
    fn query_parameters_are_removed() {
        assert_eq!(without_query_param("/a?t=1&x=2&t=3", "t"), "/a?x=2");
        assert_eq!(without_query_param("/a?t=1", "t"), "/a");
        assert_eq!(without_query_param("/a", "t"), "/a");
    }

    #[test]
    fn cookies_are_found_and_removed() {
        let header = "a=1; session=\"tok\"; b=2";
        assert_eq!(cookie(header, "session"), Some("tok"));
        assert_eq!(cookie(header, "sess"), None);
        assert_eq!(
            without_cookie(header, "session").as_deref(),
            Some("a=1; b=2")
        );
        assert_eq!(without_cookie("session=x", "session"), None);
    }

    #[test]
    fn prefixes_compare_without_case() {
        assert_eq!(
            strip_prefix_ignore_case("bearer abc", "Bearer "),
            Some("abc")
        );
        assert_eq!(strip_prefix_ignore_case("Basic abc", "Bearer "), None);
        assert_eq!(strip_prefix_ignore_case("Be", "Bearer "), None);
        assert_eq!(strip_prefix_ignore_case("Bé abc", "Be "), None);
    }
}
