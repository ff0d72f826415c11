//! The bundle's own string index: text to string id, built at load.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

/// A fast, unkeyed (FxHash-style) hash of a name, for the bundle's own
/// string index. Requests only query that index, never insert into it, so
/// hostile keys cannot degrade it; tables that requests fill use the
/// standard keyed hasher. The high half is returned: the multiply mixes it
/// best.
fn name_hash(s: &str) -> u32 {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = 0u64;
    let mut chunks = s.as_bytes().chunks_exact(8);
    for c in &mut chunks {
        let w = <[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    for b in chunks.remainder() {
        h = (h.rotate_left(5) ^ u64::from(*b)).wrapping_mul(K);
    }
    (h >> 32) as u32
}

/// An index from string text to string id over [`Bundle::strings`]: open
/// addressing with linear probing, keyed by [`name_hash`]. Each slot holds
/// the hash and the id, so a probe compares texts only when the hashes
/// match, and building the index allocates one table rather than a copy of
/// every string.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct StrIndex {
    /// `(hash, id)`; an id of `u32::MAX` marks an empty slot. The length is
    /// a power of two, at least twice the number of strings.
    slots: Vec<(u32, u32)>,
}

impl StrIndex {
    const EMPTY: (u32, u32) = (0, u32::MAX);

    /// Indexes `strings`; the first of equal strings wins.
    pub(super) fn build(strings: &[String]) -> StrIndex {
        let len = (strings.len() * 2).max(8).next_power_of_two();
        let mut index = StrIndex {
            slots: vec![Self::EMPTY; len],
        };
        for (id, s) in strings.iter().enumerate() {
            let hash = name_hash(s);
            if let Err(free) = index.find(strings, s, hash) {
                if let Some(slot) = index.slots.get_mut(free) {
                    *slot = (hash, id as u32);
                }
            }
        }
        index
    }

    /// The id of `s` in `strings` (the slice the index was built from).
    pub(super) fn get(&self, strings: &[String], s: &str) -> Option<u32> {
        self.find(strings, s, name_hash(s)).ok()
    }

    /// `Ok(id)` if `s` (whose [`name_hash`] is `hash`) is indexed, else
    /// `Err(empty slot where it would go)`.
    fn find(&self, strings: &[String], s: &str, hash: u32) -> Result<u32, usize> {
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = hash as usize & mask;
        // The table is never full, so an empty slot ends every probe; the
        // bound only guards against a corrupt table.
        for _ in 0..self.slots.len() {
            let Some(&(h, id)) = self.slots.get(i) else {
                break;
            };
            if id == u32::MAX {
                return Err(i);
            }
            if h == hash && strings.get(id as usize).map(String::as_str) == Some(s) {
                return Ok(id);
            }
            i = (i + 1) & mask;
        }
        Err(usize::MAX)
    }
}
