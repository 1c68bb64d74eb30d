//! Maps read from files refuse a key written twice.
//!
//! serde's `BTreeMap` keeps the last of two equal keys, so `expect: {"txns.committed":
//! ">= 1000000", "txns.committed": ">= 1"}` would quietly check only the second —
//! a test that cannot fail. Struct fields written twice are already refused by the
//! parser; map keys go through [`deserialize`] so they are too, with the position.

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

/// Use as `#[serde(deserialize_with = "crate::unique_map::deserialize")]`.
pub fn deserialize<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + fmt::Debug,
    V: Deserialize<'de>,
{
    struct Unique<K, V>(PhantomData<(K, V)>);

    impl<'de, K, V> Visitor<'de> for Unique<K, V>
    where
        K: Deserialize<'de> + Ord + fmt::Debug,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map in which every key appears once")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
            let mut map = BTreeMap::new();
            while let Some(key) = access.next_key::<K>()? {
                if map.contains_key(&key) {
                    return Err(serde::de::Error::custom(format!(
                        "duplicate key {key:?}: each key may appear once (the second would silently replace the first)"
                    )));
                }
                let value = access.next_value()?;
                map.insert(key, value);
            }
            Ok(map)
        }
    }

    d.deserialize_map(Unique(PhantomData))
}
