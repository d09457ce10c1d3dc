//! A small map on a sorted vector, for the few keyed values a session holds.

/// A few values keyed by strings (subjects, resource indicators), in key order: a sorted
/// vector.
///
/// A client holds a handful of accounts and APIs, so a vector is as quick as a `BTreeMap`, and
/// it keeps the mobile library smaller: each `BTreeMap` value type brings its own copy of the
/// tree's insert, remove, clone and rebalancing code (issue 9).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SortedMap<V>(Vec<(String, V)>);

impl<V> Default for SortedMap<V> {
    fn default() -> Self {
        SortedMap(Vec::new())
    }
}

impl<V> SortedMap<V> {
    /// Where `key` is, or would be inserted.
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(s, _)| s.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&V> {
        let i = self.find(key).ok()?;
        Some(&self.0[i].1)
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        let i = self.find(key).ok()?;
        Some(&mut self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    /// Sets `key`'s value; returns the one it replaces.
    pub fn insert(&mut self, key: String, value: V) -> Option<V> {
        match self.find(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    /// `key`'s value, inserted from `make` when there is none.
    pub fn get_or_insert_with(&mut self, key: &str, make: impl FnOnce() -> V) -> &mut V {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.0.insert(i, (key.to_string(), make()));
                i
            }
        };
        &mut self.0[i].1
    }

    pub fn remove(&mut self, key: &str) -> Option<V> {
        let i = self.find(key).ok()?;
        Some(self.0.remove(i).1)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Keys and values, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &V)> {
        self.0.iter().map(|(s, v)| (s, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(s, _)| s)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.0.iter().map(|(_, v)| v)
    }
}

impl<V> std::ops::Index<&str> for SortedMap<V> {
    type Output = V;

    fn index(&self, key: &str) -> &V {
        self.get(key).expect("no value for this key")
    }
}

#[cfg(test)]
mod tests {
    use super::SortedMap;

    #[test]
    fn keeps_key_order_and_one_value_per_key() {
        let mut map = SortedMap::default();
        for (subject, value) in [("u2", 2), ("u1", 1), ("u3", 3)] {
            assert_eq!(map.insert(subject.to_string(), value), None);
        }
        assert_eq!(map.insert("u2".into(), 20), Some(2));
        assert_eq!(map.keys().collect::<Vec<_>>(), ["u1", "u2", "u3"]);
        assert_eq!(map.values().copied().collect::<Vec<_>>(), [1, 20, 3]);
        *map.get_mut("u3").unwrap() = 30;
        assert_eq!(map["u3"], 30);
        assert_eq!(*map.get_or_insert_with("u3", || 0), 30);
        assert_eq!(*map.get_or_insert_with("u0", || 5), 5);
        assert_eq!(map.keys().next().map(String::as_str), Some("u0"));
        assert_eq!(map.remove("u1"), Some(1));
        assert_eq!(map.remove("u1"), None);
        assert!(!map.contains_key("u1") && map.get("u9").is_none());
        map.clear();
        assert!(map.is_empty());
    }
}
