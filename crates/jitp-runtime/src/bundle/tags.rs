//! The tag bytes of the encoding, in one table that the encoder and the
//! decoder share: a tag is written and read through the same constant, so
//! the two cannot drift apart. Changing a value here changes the format
//! (bump [`super::FORMAT_VERSION`]).

/// Tags of [`super::TypeDesc`] variants.
pub(super) mod ty {
    pub const BOOL: u8 = 0;
    pub const INT: u8 = 1;
    pub const STRING: u8 = 2;
    pub const TIME: u8 = 3;
    pub const DURATION: u8 = 4;
    pub const IP: u8 = 5;
    pub const NET: u8 = 6;
    pub const ENUM: u8 = 7;
    pub const SET: u8 = 8;
    pub const OPTIONAL: u8 = 9;
    pub const RECORD: u8 = 10;
    pub const DECIMAL: u8 = 11;
}

/// Tags of constant [`crate::val::Val`] variants.
pub(super) mod val {
    pub const ABSENT: u8 = 0;
    pub const PRESENT: u8 = 1;
    pub const BOOL: u8 = 2;
    pub const INT: u8 = 3;
    pub const STR: u8 = 4;
    pub const TIME: u8 = 5;
    pub const DUR: u8 = 6;
    pub const IP: u8 = 7;
    pub const NET: u8 = 8;
    pub const ENUM: u8 = 9;
    pub const SET: u8 = 10;
    pub const REC: u8 = 11;
    pub const DEC: u8 = 12;
}

/// Address families of IPs and networks.
pub(super) mod family {
    pub const V4: u8 = 4;
    pub const V6: u8 = 6;
}

/// Optional values and flags: absent / false, present / true.
pub(super) mod flag {
    pub const NO: u8 = 0;
    pub const YES: u8 = 1;
}

/// A rule's task, when the rule is not task-scoped.
pub(super) const NO_TASK: u32 = u32::MAX;
