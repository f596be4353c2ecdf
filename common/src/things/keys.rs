//! Ditto's rules for JSON keys inside things (`JsonKeyValidator`): attribute and property keys,
//! feature ids and every key of a written object must be non-empty, at most 256 characters, and
//! free of control characters, U+007F–U+00FF and `/`.

use crate::error::Error;
use serde_json::Value;

pub const MAX_KEY_LENGTH: usize = 256;

fn bad_char(c: char) -> bool {
    c <= '\u{1F}' || ('\u{7F}'..='\u{FF}').contains(&c) || c == '/'
}

pub fn validate_key(key: &str) -> Result<(), Error> {
    if key.chars().count() > MAX_KEY_LENGTH {
        return Err(Error::JsonKeyInvalid {
            key: key.to_owned(),
            reason: "Not allowed to exceed length of 256.",
        });
    }
    if key.is_empty() || key.chars().any(bad_char) {
        return Err(Error::JsonKeyInvalid {
            key: key.to_owned(),
            reason: "Neither slashes nor any control characters are allowed.",
        });
    }
    Ok(())
}

/// Checks every key of `value`, recursively.
pub fn validate_keys(value: &Value) -> Result<(), Error> {
    match value {
        Value::Object(m) => m.iter().try_for_each(|(k, v)| {
            validate_key(k)?;
            validate_keys(v)
        }),
        Value::Array(a) => a.iter().try_for_each(validate_keys),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_follow_dittos_character_and_length_rules() {
        for ok in [
            "a",
            "temperature",
            "€uro",
            "with space",
            "a:b",
            &"k".repeat(256),
        ] {
            assert!(validate_key(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b", "tab\t", "ä", "é", &"k".repeat(257)] {
            assert!(
                matches!(validate_key(bad), Err(Error::JsonKeyInvalid { .. })),
                "{bad}"
            );
        }
        assert!(validate_keys(&json!({"a": {"b": [{"c/d": 1}]}})).is_err());
        assert!(validate_keys(&json!({"a": {"b": [{"c": 1}]}})).is_ok());
    }
}
