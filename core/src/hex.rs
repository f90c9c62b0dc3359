//! Hexadecimal digits, as configurations (SHA-256 digests) and URLs
//! (percent escapes) carry them.

/// A hex digit's value, either case.
pub fn digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Exactly `2 * N` hex digits as `N` bytes; `None` for any other text.
pub fn decode<const N: usize>(hex: &str) -> Option<[u8; N]> {
    if hex.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks_exact(2)) {
        let [hi, lo] = pair else { return None };
        *byte = digit(*hi)? << 4 | digit(*lo)?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_digests_decode() {
        assert_eq!(decode::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(decode::<2>("0aF"), None);
        assert_eq!(decode::<2>("0aFg"), None);
        assert_eq!(decode::<1>("+1"), None);
        assert_eq!(digit(b'z'), None);
    }
}
