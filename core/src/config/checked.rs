//! Deserialising values that are checked as they are read.
//!
//! A parse error names its field from where the parser stopped (see
//! `field_path`). A check made after a value was read (serde's
//! `try_from`) is only placed when the object or array around it ends,
//! which names the wrong field; these helpers make the check inside the
//! parser's own step for the value, so the error is placed at the value.

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A value written as a string and checked by `T::try_from`: the error
/// names the string's field. Type errors read as `String`'s ("expected a
/// string").
pub fn string<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<String>,
    T::Error: fmt::Display,
{
    struct Checked<T>(PhantomData<T>);

    impl<T> Visitor<'_> for Checked<T>
    where
        T: TryFrom<String>,
        T::Error: fmt::Display,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<T, E> {
            T::try_from(value.to_owned()).map_err(E::custom)
        }

        fn visit_string<E: de::Error>(self, value: String) -> Result<T, E> {
            T::try_from(value).map_err(E::custom)
        }
    }

    deserializer.deserialize_string(Checked(PhantomData))
}

/// A value written as the struct `W` (named `name` in type errors) and
/// checked by `T::try_from`: the error names the object's field.
pub fn object<'de, D, W, T>(deserializer: D, name: &'static str) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    W: Deserialize<'de>,
    T: TryFrom<W>,
    T::Error: fmt::Display,
{
    struct Checked<W, T>(&'static str, PhantomData<(W, T)>);

    impl<'de, W, T> Visitor<'de> for Checked<W, T>
    where
        W: Deserialize<'de>,
        T: TryFrom<W>,
        T::Error: fmt::Display,
    {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "struct {}", self.0)
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            let written = W::deserialize(de::value::MapAccessDeserializer::new(map))?;
            T::try_from(written).map_err(de::Error::custom)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<T, A::Error> {
            let written = W::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            T::try_from(written).map_err(de::Error::custom)
        }
    }

    deserializer.deserialize_struct(name, &[], Checked(name, PhantomData))
}
