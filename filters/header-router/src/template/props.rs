//! Property tests: [`Template`] from any text, and rendering from any
//! request. `make fuzz` runs them long.

use super::*;
use meshwasm_core::testing::{prop_cases, FakeHost};
use proptest::collection::vec;
use proptest::prelude::*;

/// Text made mostly of what templates are made of: braces, placeholder
/// words, dots, digits, line breaks.
fn template_text() -> impl Strategy<Value = String> {
    let piece = proptest::sample::select(
        &[
            "{", "}", "{{", "}}", "header", "query", "cookie", "path", "method", "host", ".", "0",
            "1", "x-y", "X", " ", "\r", "\n", "\0", "é", "+1",
        ][..],
    );
    prop_oneof![
        3 => vec(piece, 0..12).prop_map(|p| p.concat()),
        1 => any::<String>(),
    ]
}

fn value_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => vec(any::<u8>(), 0..24),
        1 => (vec(any::<u8>(), 1..4), 0..65_536usize)
            .prop_map(|(unit, len)| unit.into_iter().cycle().take(len).collect()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(prop_cases(64)))]

    #[test]
    fn prop_any_text_is_a_template_or_refused(text in template_text()) {
        match Template::try_from(text.clone()) {
            Ok(template) => {
                // It prints back as something that reads as itself.
                let printed = template.to_string();
                prop_assert_eq!(Template::try_from(printed.clone()), Ok(template.clone()), "{:?}", printed);
                for piece in template.pieces() {
                    if let Piece::Text(t) = piece {
                        prop_assert!(!t.is_empty() && !t.contains(['\r', '\n', '\0']), "{:?}", t);
                    }
                }
            }
            Err(why) => prop_assert!(!why.is_empty()),
        }
        // Text without braces or line breaks is itself.
        if !text.contains(['{', '}', '\r', '\n', '\0']) {
            let expected = if text.is_empty() { vec![] } else { vec![Piece::Text(text.clone())] };
            prop_assert_eq!(Template::try_from(text).map(|t| t.pieces().to_vec()), Ok(expected));
        }
    }

    #[test]
    fn prop_any_template_renders_from_any_request(
        text in template_text(),
        path in value_bytes(),
        values in vec(value_bytes(), 4),
        captures in vec(any::<String>(), 0..3),
    ) {
        let Ok(template) = Template::try_from(text) else { return Ok(()); };
        let names = [":method", ":authority", "cookie", "x-y"];
        let mut headers: Vec<(&str, &[u8])> = vec![(":path", &path)];
        headers.extend(names.iter().copied().zip(values.iter().map(Vec::as_slice)));
        let mut host = FakeHost::with_raw_request(&headers);
        let rendered = template.render(&host.view(), &captures).unwrap();
        // Without placeholders, the text is rendered as it is.
        let texts: Option<String> = template
            .pieces()
            .iter()
            .map(|p| match p {
                Piece::Text(t) => Some(t.as_str()),
                _ => None,
            })
            .collect();
        if let Some(texts) = texts {
            prop_assert_eq!(rendered, texts);
        }
    }
}
