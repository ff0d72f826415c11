//! Lexing and parsing: `.jitp` text to an [`ast::File`] plus diagnostics.

pub mod ast;
pub mod lexer;
pub mod parser;

#[allow(
    clippy::all,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unused_qualifications,
    unused_parens,
    dead_code
)]
mod grammar {
    include!(concat!(env!("OUT_DIR"), "/jitp.rs"));
}

pub use parser::{parse, Parsed};
