//! Which field a JSON parse error is about, found from where it stopped.
//!
//! `serde_json` says where in the text an error arose (line and column of
//! the last byte it read), not which field it was reading. Rather than
//! track the path while deserialising (a wrapper around every visitor,
//! up to 8% of a module's code), [`of`] walks the text up to that
//! point once, on the error path only, and names the field being read
//! there: `rules[1].limit.requests`, or empty at the top level.
//!
//! One case needs the document: `serde_json` refuses an externally tagged
//! enum of the wrong shape with a syntax error ("expected value") although
//! the JSON is well formed. It stops at the value's first byte when that is
//! a scalar or `[`, at `}` for `{}`, and after the first variant's value for
//! an object with a second key; the field at fault is the enum's.

use std::fmt::Write;

/// Where the walk is inside one object or array.
enum Frame {
    /// In an object: the last key read, if it was read since the last `,`
    /// (a key names the field from its closing quote on: an unknown field
    /// is refused there), and whether its `:` was read.
    Object { key: Option<String>, valued: bool },
    /// In an array: the current item's index (an item is being read from
    /// the `[` or `,` before it on, as the parser reports it).
    Array { index: usize },
}

/// The field `error` (from parsing `text`) is about: object keys joined by
/// `.`, array items as `[i]`, empty for the document.
pub fn of(text: &[u8], error: &serde_json::Error) -> String {
    let Stop {
        mut frames,
        last,
        before,
    } = walk(text, error.line(), error.column());
    let message = error.to_string();
    // An enum written as an object whose one key is not a variant: the
    // parser stops at the key, but the field is the enum's.
    let variant_key = matches!(
        frames.last(),
        Some(Frame::Object {
            key: Some(_),
            valued: false
        })
    ) && message.starts_with("unknown variant");
    let inside_enum = message.starts_with("expected value")
        && match (before, last) {
            (_, Some(b'[')) => true,
            (Some(b'{'), Some(b'}')) | (Some(b':' | b'[' | b','), _) => false,
            _ => true,
        }
        && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok();
    if variant_key || inside_enum {
        frames.pop();
    }
    render(&frames)
}

/// Where the parser stopped: the frames open there, and the last two
/// bytes read that are not white space.
struct Stop {
    frames: Vec<Frame>,
    last: Option<u8>,
    before: Option<u8>,
}

/// Walks `text` up to `column` (1-based, in bytes, as `serde_json` counts)
/// of `line` (1-based). Text that is not well formed up to there still
/// gives the frames read so far.
fn walk(text: &[u8], line: usize, column: usize) -> Stop {
    let start = text
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .map(|(i, _)| i + 1)
        .nth(line.saturating_sub(2))
        .filter(|_| line > 1)
        .unwrap_or(0);
    let end = start.saturating_add(column).min(text.len());
    let mut frames: Vec<Frame> = Vec::new();
    let walked = text.get(..end).unwrap_or(text);
    let mut tail = walked.iter().rev().filter(|b| !b.is_ascii_whitespace());
    let (last, before) = (tail.next().copied(), tail.next().copied());
    let mut bytes = walked.iter();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => {
                let string = read_string(&mut bytes);
                if let Some(Frame::Object {
                    key: key @ None, ..
                }) = frames.last_mut()
                {
                    *key = Some(string);
                }
            }
            b'{' => frames.push(Frame::Object {
                key: None,
                valued: false,
            }),
            b'[' => frames.push(Frame::Array { index: 0 }),
            b'}' | b']' => {
                frames.pop();
            }
            b':' => {
                if let Some(Frame::Object { valued, .. }) = frames.last_mut() {
                    *valued = true;
                }
            }
            b',' => match frames.last_mut() {
                Some(Frame::Object { key, valued }) => {
                    *key = None;
                    *valued = false;
                }
                Some(Frame::Array { index }) => *index += 1,
                None => {}
            },
            _ => {}
        }
    }
    Stop {
        frames,
        last,
        before,
    }
}

/// The frames' path, up to the first object whose key is not read yet.
fn render(frames: &[Frame]) -> String {
    let mut path = String::new();
    for frame in frames {
        match frame {
            Frame::Object { key: Some(key), .. } => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(key);
            }
            Frame::Array { index } => {
                let _ = write!(path, "[{index}]");
            }
            _ => break,
        }
    }
    path
}

/// Reads a string whose opening quote was read, up to and including its
/// closing quote (or the end of the text), and returns it with simple
/// escapes undone (`\uXXXX` is kept as written: a key so written is named
/// as written).
fn read_string(bytes: &mut std::slice::Iter<'_, u8>) -> String {
    let mut raw = Vec::new();
    while let Some(&b) = bytes.next() {
        match b {
            b'"' => break,
            b'\\' => match bytes.next() {
                Some(b'n') => raw.push(b'\n'),
                Some(b't') => raw.push(b'\t'),
                Some(b'r') => raw.push(b'\r'),
                Some(b'b') => raw.push(8),
                Some(b'f') => raw.push(12),
                Some(b'u') => raw.extend_from_slice(b"\\u"),
                Some(&other) => raw.push(other),
                None => break,
            },
            _ => raw.push(b),
        }
    }
    String::from_utf8_lossy(&raw).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{of, render, walk};

    /// The path `of` names for the error `serde_json` gives parsing `json`
    /// as `T`.
    fn path_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(json: &str) -> String {
        let err = serde_json::from_str::<T>(json).unwrap_err();
        of(json.as_bytes(), &err)
    }

    fn at(text: &[u8], line: usize, column: usize) -> String {
        render(&walk(text, line, column).frames)
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limit {
        requests: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        name: String,
        limit: Limit,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Root {
        rules: Vec<Rule>,
    }

    #[test]
    fn names_the_value_being_read() {
        let json = r#"{"rules": [{"name": "a", "limit": {"requests": 1}},
                                 {"name": "b", "limit": {"requests": -1}}]}"#;
        assert_eq!(path_of::<Root>(json), "rules[1].limit.requests");
        let json = r#"{"rules": [{"name": 7, "limit": {"requests": 1}}]}"#;
        assert_eq!(path_of::<Root>(json), "rules[0].name");
    }

    #[test]
    fn names_an_unknown_field_and_the_object_a_missing_one_is_in() {
        assert_eq!(path_of::<Root>(r#"{"rules": [], "x": 1}"#), "x");
        let json = r#"{"rules": [{"name": "a", "limit": {"requests": 1, "burst": 2}}]}"#;
        assert_eq!(path_of::<Root>(json), "rules[0].limit.burst");
        let json = r#"{"rules": [{"name": "a", "limit": {}}]}"#;
        assert_eq!(path_of::<Root>(json), "rules[0].limit");
        assert_eq!(path_of::<Root>(r#"{"rules": [{"name": "a"}]}"#), "rules[0]");
        assert_eq!(path_of::<Root>("{}"), "");
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "snake_case", deny_unknown_fields)]
    #[allow(dead_code)]
    enum Path {
        Exact(String),
        Prefix(String),
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Match {
        path: Path,
    }

    #[test]
    fn an_enum_of_the_wrong_shape_is_named() {
        assert_eq!(
            path_of::<Match>(r#"{"path": {"exact": "/", "prefix": "/"}}"#),
            "path"
        );
        assert_eq!(path_of::<Match>(r#"{"path": []}"#), "path");
        assert_eq!(path_of::<Match>(r#"{"path": {}}"#), "path");
        assert_eq!(path_of::<Match>(r#"{"path": -1}"#), "path");
        assert_eq!(path_of::<Match>(r#"{"path": {"glob": "/"}}"#), "path");
        assert_eq!(path_of::<Match>(r#"{"path": {"exact": 1}}"#), "path.exact");
        // Other errors of well-formed JSON keep the whole path.
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Limit {
            requests: u32,
            name: String,
        }
        assert_eq!(
            path_of::<Limit>(r#"{"requests": 1e400, "name": "a"}"#),
            "requests"
        );
        assert_eq!(
            path_of::<Limit>(r#"{"requests": 1, "name": "\ud800"}"#),
            "name"
        );
        // Malformed JSON is named where it broke.
        assert_eq!(path_of::<Match>(r#"{"path": {"exact": }}"#), "path");
        assert_eq!(path_of::<Match>(r#"{"path": {"exact": "#), "path.exact");
    }

    #[test]
    fn keys_with_escapes_and_text_that_ends_early() {
        assert_eq!(at(br#"{"a\"b": {"c": 1"#, 1, 15), "a\"b.c");
        assert_eq!(at(br#"{"a": [1, 2, {"#, 1, 40), "a[2]");
        assert_eq!(at(b"", 3, 9), "");
        assert_eq!(at(b"{\n\"a\":\n 5}", 3, 2), "a");
    }
}
