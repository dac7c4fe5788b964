//! Evidence kept with a record until its connection ends (`connections[].rsts[].evidence`).
//!
//! A `serde_json::Map` is a `BTreeMap<String, Value>`: its first node has room for eleven
//! entries and every key is an allocated `String`, about 700 bytes for the three to six facts a
//! reset carries, held for the connection's whole life. This is a vector of static keys kept
//! in the same order as that map's (byte order of the key), so the JSON is identical; lookups
//! search them in that order.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

#[derive(Clone, Debug, Default)]
pub struct Evidence {
    entries: Vec<(&'static str, Value)>,
}

impl Evidence {
    /// Sets `key` (replacing an earlier value, like a map).
    pub fn insert(&mut self, key: &'static str, value: Value) {
        match self.position(key) {
            Ok(index) => {
                if let Some(entry) = self.entries.get_mut(index) {
                    entry.1 = value;
                }
            }
            Err(index) => self.entries.insert(index, (key, value)),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        let index = self.position(key).ok()?;
        self.entries.get(index).map(|(_, value)| value)
    }

    /// Where `key` is, or where it would go (entries are sorted by key).
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.entries.binary_search_by(|(kept, _)| (*kept).cmp(key))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// The evidence of a finding (`findings[].evidence`).
    pub fn to_map(&self) -> Map<String, Value> {
        self.entries
            .iter()
            .map(|(key, value)| ((*key).to_string(), value.clone()))
            .collect()
    }
}

impl Serialize for Evidence {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.entries.len()))?;
        for (key, value) in &self.entries {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn serializes_like_a_json_map_whatever_the_insertion_order() {
        let mut evidence = Evidence::default();
        let mut map = Map::new();
        for (key, value) in [
            ("ttl", json!(64)),
            ("seq", json!(1)),
            ("ip_id_break", json!({"rst_ip_id": 3})),
            ("idle_s", json!(350.0)),
            ("ttl", json!(63)),
        ] {
            evidence.insert(key, value.clone());
            map.insert(key.to_string(), value);
        }
        assert_eq!(
            serde_json::to_string(&evidence).ok(),
            serde_json::to_string(&map).ok()
        );
        assert_eq!(evidence.to_map(), map);
        assert_eq!(evidence.get("ttl"), Some(&json!(63)));
        assert!(evidence.contains_key("idle_s") && !evidence.contains_key("race"));
    }
}
