//! The instruction set, described once.
//!
//! [`instructions!`] takes one line per instruction (name, opcode, operands)
//! and derives the [`Instr`] enum, its byte encoding, its decoding (which
//! rejects unknown opcodes and truncated operands) and its disassembly.
//!
//! The machine is a stack machine over typed values ([`crate::val::Val`]).
//! Conditions are compiled to blocks that end in `Ret` with exactly one
//! `Bool` on the stack. Jumps are relative and forward only, so every block
//! terminates and its stack depth is known statically (the loader checks
//! both).

use std::fmt::Write as _;

/// Why a byte sequence is not a valid instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// An opcode no instruction has.
    UnknownOpcode(u8),
    /// The bytes end inside an instruction.
    Truncated,
}

/// A 32-bit operand with a meaning: each kind of index gets its own type,
/// so a slot cannot be passed where a constant is expected. Ranges are
/// checked when a bundle is loaded (verification knows the table sizes);
/// the VM still checks every access.
macro_rules! operands {
    ($( $(#[$doc:meta])* $name:ident; )*) => {
        $(
            $(#[$doc])*
            #[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
            pub struct $name(pub u32);

            impl $name {
                /// The operand as an index into its table.
                #[inline]
                pub fn index(self) -> usize {
                    self.0 as usize
                }
            }

            impl From<u32> for $name {
                #[inline]
                fn from(v: u32) -> $name {
                    $name(v)
                }
            }

            impl From<$name> for u32 {
                #[inline]
                fn from(v: $name) -> u32 {
                    v.0
                }
            }
        )*
    };
}

operands! {
    /// An index into the constant pool.
    ConstIdx;
    /// A request slot.
    SlotIdx;
    /// A field's offset from its record's presence marker (at least 1).
    FieldOff;
    /// A local (an inlined function's argument).
    LocalIdx;
    /// An index into the `like` patterns.
    PatternIdx;
    /// A comparison operator code (see [`cmp`]).
    CmpOp;
    /// A built-in method code (see [`method`]).
    MethodId;
    /// A forward jump distance, in instructions after the jump.
    JumpOff;
}

impl MethodId {
    /// Number of arguments the method takes besides its receiver (0 for an
    /// unknown code, which verification rejects).
    pub fn args(self) -> u32 {
        method::ARGS.get(self.index()).copied().unwrap_or(0)
    }
}

/// Describes the instruction set. One line per instruction: name, opcode,
/// typed operands, and the stack effect `(popped, pushed)` (for conditional
/// jumps the fall-through effect; the taken branch pops nothing). The
/// effect may use the operands.
macro_rules! instructions {
    ($( $(#[$doc:meta])* $name:ident = $op:literal { $($field:ident : $ty:ident),* } => ($pop:expr, $push:expr) ; )*) => {
        /// One instruction. Operands are 32-bit.
        #[derive(Copy, Clone, Debug, PartialEq, Eq)]
        pub enum Instr {
            $( $(#[$doc])* $name { $( #[allow(missing_docs)] $field: $ty ),* }, )*
        }

        impl Instr {
            /// The opcode byte.
            #[cfg_attr(not(feature = "compiler"), allow(dead_code))]
            pub fn opcode(&self) -> u8 {
                match self { $( Instr::$name { .. } => $op, )* }
            }

            /// The mnemonic.
            pub fn mnemonic(&self) -> &'static str {
                match self { $( Instr::$name { .. } => stringify!($name), )* }
            }

            /// Stack effect: (values popped, values pushed). For conditional
            /// jumps this is the fall-through effect; the taken branch pops
            /// nothing.
            #[allow(unused_variables)]
            pub fn stack_effect(&self) -> (u32, u32) {
                match *self {
                    $( Instr::$name { $($field),* } => ($pop, $push), )*
                }
            }

            /// Appends the encoding of `self` to `out`.
            pub fn encode(&self, out: &mut Vec<u8>) {
                match *self {
                    $( Instr::$name { $($field),* } => {
                        out.push($op);
                        $( out.extend_from_slice(&u32::from($field).to_le_bytes()); )*
                    } )*
                }
            }

            /// Decodes one instruction from the front of `bytes`, returning it
            /// and the number of bytes used.
            pub fn decode(bytes: &[u8]) -> Result<(Instr, usize), DecodeError> {
                let (&op, mut rest) = bytes.split_first().ok_or(DecodeError::Truncated)?;
                #[allow(unused_mut)]
                let mut used = 1usize;
                #[allow(unused_macros)]
                macro_rules! operand {
                    () => {{
                        let (head, tail) = rest.split_first_chunk::<4>().ok_or(DecodeError::Truncated)?;
                        rest = tail;
                        used += 4;
                        u32::from_le_bytes(*head)
                    }};
                }
                let instr = match op {
                    $( $op => Instr::$name { $( $field: $ty(operand!()) ),* }, )*
                    other => return Err(DecodeError::UnknownOpcode(other)),
                };
                let _ = rest;
                Ok((instr, used))
            }

            /// Operand names and values, for disassembly.
            pub fn operands(&self) -> Vec<(&'static str, u32)> {
                match *self {
                    $( Instr::$name { $($field),* } => vec![ $( (stringify!($field), u32::from($field)) ),* ], )*
                }
            }
        }
    };
}

instructions! {
    /// Push constant `k` of the pool.
    Const = 0x01 { k: ConstIdx } => (0, 1);
    /// Push request slot `slot`.
    Slot = 0x02 { slot: SlotIdx } => (0, 1);
    /// Push a reference to the record whose presence marker is `slot`
    /// (absent when the record is absent).
    Rec = 0x03 { slot: SlotIdx } => (0, 1);
    /// Pop a record reference; push its field at offset `off` (absent stays absent).
    Field = 0x04 { off: FieldOff } => (1, 1);
    /// Pop a record reference; push a reference to its record-typed field at
    /// offset `off` (absent when either is absent).
    FieldRec = 0x07 { off: FieldOff } => (1, 1);
    /// Push local `i` (an inlined function's argument).
    Local = 0x05 { i: LocalIdx } => (0, 1);
    /// Pop into local `i`.
    SetLocal = 0x06 { i: LocalIdx } => (1, 0);
    /// Pop a `Bool`; push its negation.
    Not = 0x10 {} => (1, 1);
    /// Pop an `Int`, `Duration` or `Decimal`; push its negation (overflow is an error).
    Neg = 0x11 {} => (1, 1);
    /// Pop `b`, `a`; push `a + b` (Int, Time + Duration, Duration + Duration,
    /// Decimal + Decimal; checked).
    Add = 0x12 {} => (2, 1);
    /// Pop `b`, `a`; push `a - b` (checked).
    Sub = 0x13 {} => (2, 1);
    /// Pop `b`, `a`; push `a * b`: a `Decimal` times an `Int`, in either
    /// order, giving a `Decimal` (checked).
    Mul = 0x14 {} => (2, 1);
    /// Pop `b`, `a`; push `a <op> b`; false when either is absent. `op`: 0 `==`,
    /// 1 `!=`, 2 `<`, 3 `<=`, 4 `>`, 5 `>=`.
    Cmp = 0x20 { op: CmpOp } => (2, 1);
    /// Push `slot <op> const k`: a fused load and compare.
    CmpSlotConst = 0x21 { op: CmpOp, slot: SlotIdx, k: ConstIdx } => (0, 1);
    /// Pop `b`, `a`; push whether `a` is in `b` (set, network, set of
    /// networks, time window); false when either is absent.
    In = 0x22 {} => (2, 1);
    /// Pop a string; push whether it matches pattern `p`.
    Like = 0x23 { p: PatternIdx } => (1, 1);
    /// Apply built-in method `m` to the receiver and arguments on the stack.
    Method = 0x24 { m: MethodId } => (1 + m.args(), 1);
    /// Pop a value; push whether it is present.
    Has = 0x25 {} => (1, 1);
    /// If the top is `false` jump forward by `off`, keeping it; else pop it.
    JumpIfFalseOrPop = 0x30 { off: JumpOff } => (1, 0);
    /// If the top is `true` jump forward by `off`, keeping it; else pop it.
    JumpIfTrueOrPop = 0x31 { off: JumpOff } => (1, 0);
    /// If the top is present jump forward by `off`, keeping it; else pop it.
    JumpIfPresentOrPop = 0x32 { off: JumpOff } => (1, 0);
    /// End of a condition: the top of the stack is the result.
    Ret = 0x3f {} => (1, 0);
}

/// Comparison operator codes used by `Cmp` and `CmpSlotConst`.
pub mod cmp {
    use super::CmpOp;
    /// `==`
    pub const EQ: CmpOp = CmpOp(0);
    /// `!=`
    pub const NE: CmpOp = CmpOp(1);
    /// `<`
    pub const LT: CmpOp = CmpOp(2);
    /// `<=`
    pub const LE: CmpOp = CmpOp(3);
    /// `>`
    pub const GT: CmpOp = CmpOp(4);
    /// `>=`
    pub const GE: CmpOp = CmpOp(5);
    /// Symbols by code.
    pub const SYMBOLS: [&str; 6] = ["==", "!=", "<", "<=", ">", ">="];
}

/// Method codes used by `Method`, with their argument counts.
pub mod method {
    use super::MethodId;
    /// `starts_with`
    pub const STARTS_WITH: MethodId = MethodId(0);
    /// `ends_with`
    pub const ENDS_WITH: MethodId = MethodId(1);
    /// `contains` on strings
    pub const STR_CONTAINS: MethodId = MethodId(2);
    /// `contains` on sets
    pub const CONTAINS: MethodId = MethodId(3);
    /// `contains_any`
    pub const CONTAINS_ANY: MethodId = MethodId(4);
    /// `contains_all`
    pub const CONTAINS_ALL: MethodId = MethodId(5);
    /// `is_empty`
    pub const IS_EMPTY: MethodId = MethodId(6);
    /// `len`
    pub const LEN: MethodId = MethodId(7);
    /// Names by code.
    pub const NAMES: [&str; 8] = [
        "starts_with",
        "ends_with",
        "contains(str)",
        "contains",
        "contains_any",
        "contains_all",
        "is_empty",
        "len",
    ];
    /// Number of arguments (besides the receiver) by code.
    pub const ARGS: [u32; 8] = [1, 1, 1, 1, 1, 1, 0, 0];
}

impl Instr {
    /// The forward jump distance, for jump instructions.
    pub fn jump(&self) -> Option<JumpOff> {
        match *self {
            Instr::JumpIfFalseOrPop { off }
            | Instr::JumpIfTrueOrPop { off }
            | Instr::JumpIfPresentOrPop { off } => Some(off),
            _ => None,
        }
    }

    /// One-line disassembly; `describe` renders operands that index tables
    /// (constants, slots, patterns) readably.
    pub fn disassemble(&self, describe: &dyn Fn(&Instr, &str, u32) -> Option<String>) -> String {
        let mut s = format!("{:<18}", self.mnemonic());
        for (name, value) in self.operands() {
            match describe(self, name, value) {
                Some(text) => {
                    let _ = write!(s, " {name}={value} ({text})");
                }
                None => {
                    let _ = write!(s, " {name}={value}");
                }
            }
        }
        s.trim_end().to_string()
    }
}

/// Encodes a sequence of instructions.
pub fn encode_all(code: &[Instr]) -> Vec<u8> {
    let mut out = Vec::with_capacity(code.len() * 5);
    for i in code {
        i.encode(&mut out);
    }
    out
}

/// Decodes a whole byte sequence into instructions.
pub fn decode_all(mut bytes: &[u8]) -> Result<Vec<Instr>, (usize, DecodeError)> {
    let mut out = Vec::new();
    let mut offset = 0;
    while !bytes.is_empty() {
        let (instr, used) = Instr::decode(bytes).map_err(|e| (offset, e))?;
        out.push(instr);
        offset += used;
        bytes = bytes.get(used..).unwrap_or(&[]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let code = vec![
            Instr::Slot { slot: SlotIdx(7) },
            Instr::CmpSlotConst {
                op: cmp::GE,
                slot: SlotIdx(3),
                k: ConstIdx(9),
            },
            Instr::JumpIfFalseOrPop { off: JumpOff(2) },
            Instr::Method { m: method::LEN },
            Instr::Ret {},
        ];
        let bytes = encode_all(&code);
        assert_eq!(decode_all(&bytes).unwrap(), code);
        assert_eq!(
            decode_all(&bytes[..bytes.len() - 2]).unwrap_err().1,
            DecodeError::Truncated
        );
        assert_eq!(
            decode_all(&[0xee]).unwrap_err().1,
            DecodeError::UnknownOpcode(0xee)
        );
    }
}
