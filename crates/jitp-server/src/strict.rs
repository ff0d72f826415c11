//! Request bodies and entity data, read with duplicate keys refused
//! (through the runtime's [`jitp_runtime::parse_unique`]).
//!
//! `serde_json` keeps the last of two equal keys without a word; in an
//! authorisation request that lets a caller smuggle a second `roles` past a
//! proxy that checked the first. Request bodies are read with this instead.

use serde_json::Value;

/// Parses `bytes` as one JSON document, refusing duplicate keys and
/// trailing data. The error is a message for the caller.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| format!("the body is not valid UTF-8 (at byte {})", e.valid_up_to()))?;
    jitp_runtime::parse_unique(text, "the document").map_err(|e| e.to_string())
}

#[cfg(test)]
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
    }
}
