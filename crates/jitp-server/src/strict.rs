//! Request bodies and entity data, read with duplicate keys refused
//! (through the runtime's [`jitp_runtime::parse_unique`]).
//!
//! `serde_json` keeps the last of two equal keys without a word; in an
//! authorisation request that lets a caller smuggle a second `roles` past a
//! proxy that checked the first. Request bodies are read with this instead.

use jitp_runtime::Json;
use serde_json::Value;

/// Deepest nesting read in a decision request's body: `serde_json`'s own
/// limit. Each request is held to the runtime's
/// [`jitp_runtime::MAX_REQUEST_DEPTH`] when it is bound.
const BODY_DEPTH: usize = 128;

/// Parses `bytes` as one JSON document, refusing duplicate keys and
/// trailing data. The error is a message for the caller.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    jitp_runtime::parse_unique(utf8(bytes)?, "the document").map_err(|e| e.to_string())
}

/// Parses a decision request's body (one request or a batch) into the
/// runtime's JSON tree, which borrows from `bytes` and keeps numbers as
/// written: duplicate keys and trailing data refused. The error is a
/// message for the caller.
pub fn parse_request(bytes: &[u8]) -> Result<Json<'_>, String> {
    Json::parse(utf8(bytes)?, BODY_DEPTH).map_err(|e| e.to_string())
}

fn utf8(bytes: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(bytes)
        .map_err(|e| format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()))
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::parse;

    #[test]
    fn duplicates_are_refused_at_any_depth() {
        let e = parse(br#"{"a": {"b": 1, "b": 2}}"#).unwrap_err();
        assert!(e.starts_with("duplicate key `b`"), "{e}");
        assert!(parse(br#"{"a": 1, "a": 1}"#).is_err());
        assert_eq!(
            parse(br#"{"a": [1, {"b": null}]}"#).unwrap(),
            serde_json::json!({"a": [1, {"b": null}]})
        );
    }

    #[test]
    fn trailing_data_is_refused() {
        assert!(parse(b"{} {}").is_err());
        assert!(parse(b"").is_err());
        assert!(super::parse_request(b"{} {}").is_err());
    }

    #[test]
    fn request_bodies_refuse_duplicates_and_keep_numbers() {
        let e = super::parse_request(br#"{"context": {"risk": 1, "risk": 2}}"#).unwrap_err();
        assert_eq!(e, "duplicate key `risk` in `context`");
        let e = super::parse_request(b"{\"a\": \"\xff\"}").unwrap_err();
        assert!(e.contains("not valid UTF-8 (at byte 7)"), "{e}");
        let j = super::parse_request(br#"{"amount": 12.50}"#).unwrap();
        match j.get("amount") {
            Some(jitp_runtime::Json::Number(n)) => assert_eq!(n.as_str(), "12.50"),
            other => panic!("{other:?}"),
        }
    }
}
