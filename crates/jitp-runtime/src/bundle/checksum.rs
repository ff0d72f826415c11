//! The bundle checksum.

// On the decision path: no indexing or slicing that could panic, no
// explicit panics (checked access, errors or documented defaults instead).
#![deny(clippy::indexing_slicing, clippy::panic)]

/// The bundle checksum: four 64-bit lanes over little-endian 8-byte words
/// (so the lanes run in parallel, several bytes per cycle), folded together
/// with the length. Each step is a bijection of both the lane and the word,
/// so any single changed byte changes the result; so does, barring a 2^-64
/// accident, any other change. It detects corruption; it is not a MAC.
pub fn checksum(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    fn step(lane: u64, word: &[u8]) -> u64 {
        let w = <[u8; 8]>::try_from(word).map_or(0, u64::from_le_bytes);
        (lane ^ w).wrapping_mul(K).rotate_left(29)
    }
    let mut lanes: [u64; 4] = [
        0x243f_6a88_85a3_08d3,
        0x1319_8a2e_0370_7344,
        0xa409_3822_299f_31d0,
        0x082e_fa98_ec4e_6c89,
    ];
    let mut blocks = bytes.chunks_exact(32);
    for block in &mut blocks {
        for (lane, word) in lanes.iter_mut().zip(block.chunks_exact(8)) {
            *lane = step(*lane, word);
        }
    }
    let mut tail = [0u8; 32];
    for (t, b) in tail.iter_mut().zip(blocks.remainder()) {
        *t = *b;
    }
    for (lane, word) in lanes.iter_mut().zip(tail.chunks_exact(8)) {
        *lane = step(*lane, word);
    }
    let mut h = bytes.len() as u64;
    for lane in lanes {
        h = (h ^ lane).wrapping_mul(K).rotate_left(31);
    }
    h ^ (h >> 32)
}
