//! Limits of a compiled bundle, as the checker enforces them.
//!
//! Lowering (`jitp_runtime::compile`) trusts a checked program to stay within
//! these; it asserts at build time that its own copies agree.

/// Deepest operand stack a condition may need.
pub const MAX_STACK: u32 = 256;
/// Most locals a condition may use (one per argument of every inlined call).
pub const MAX_LOCALS: u32 = 256;
/// Most `require` clauses per rule.
pub const MAX_REQUIRES: usize = 64;
/// Most request slots the schema may lay out.
pub const MAX_SLOTS: u32 = 1 << 16;
/// Most instructions a bundle may hold (guards against exponential
/// inlining).
pub const MAX_CODE: usize = 16 * 1024 * 1024;
