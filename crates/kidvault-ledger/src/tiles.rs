//! The stored layout of the ledger's lowest levels, shared by every backend (a
//! deployment moved from one to another keeps its tiles byte for byte): each
//! complete block of 2^TILE_LEVELS leaves keeps levels 0..TILE_LEVELS as one
//! tile of TILE_HASHES hashes, level 0 first, then 1, and so on, each level left
//! to right.

/// Levels 0..TILE_LEVELS of a block of 2^TILE_LEVELS leaves go into one tile.
pub const TILE_LEVELS: u8 = 6;
/// Hashes per tile: 64 + 32 + 16 + 8 + 4 + 2.
pub const TILE_HASHES: usize = 2 * (1 << TILE_LEVELS) - 2;

/// Where node (`level`, `idx`) (level < TILE_LEVELS) sits: its block, and its
/// slot (in hashes) within the block's tile.
pub fn tile_slot(level: u8, idx: u64) -> (u64, usize) {
    let width = 1u64 << (TILE_LEVELS - level);
    let offset = (2 << TILE_LEVELS) - (2 << TILE_LEVELS >> level);
    (idx / width, offset + (idx % width) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every node of a block has its own slot, levels in order, none outside the tile.
    #[test]
    fn slots_cover_the_tile_once_level_by_level() {
        let mut seen = [false; TILE_HASHES];
        let mut last = None;
        for level in 0..TILE_LEVELS {
            for i in 0..(1u64 << (TILE_LEVELS - level)) {
                let idx = 3 * (1u64 << (TILE_LEVELS - level)) + i; // block 3
                let (block, slot) = tile_slot(level, idx);
                assert_eq!(block, 3);
                assert!(!seen[slot], "slot {slot} used twice");
                assert!(last.is_none_or(|l| slot > l), "slots increase level by level");
                seen[slot] = true;
                last = Some(slot);
            }
        }
        assert!(seen.iter().all(|s| *s));
    }
}
