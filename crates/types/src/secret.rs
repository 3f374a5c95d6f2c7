//! A string that must never be printed: tokens and passwords.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A secret value (a bearer token, a password). `Debug`, `Display` and `Serialize` all print
/// [`Secret::REDACTED`], so a secret cannot leak through logs, `--show-env` or JSON output by
/// accident; code that really needs the value calls [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// What is printed instead of the value.
    pub const REDACTED: &'static str = "***redacted***";

    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The real value; call it only where it is sent to the server it is meant for.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (no secret configured).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// `url` with the password of its user info (`https://user:password@host/…`) replaced by
/// [`Secret::REDACTED`], for printing: the URL itself is not secret, its password is.
pub fn redact_url(url: &str) -> String {
    match password_range(url) {
        Some(range) => format!(
            "{}{}{}",
            &url[..range.start],
            Secret::REDACTED,
            &url[range.end..]
        ),
        None => url.to_owned(),
    }
}

/// The password of `url`'s user info (`https://user:password@host/…`), if it has one: what
/// [`redact_url`] hides, and what a client that sends it must scrub from what it prints.
pub fn url_password(url: &str) -> Option<&str> {
    password_range(url).map(|range| &url[range])
}

/// Where the password of `url`'s user info lies, by byte offsets.
fn password_range(url: &str) -> Option<std::ops::Range<usize>> {
    let authority_start = url.find("://")? + 3;
    let rest = &url[authority_start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let user_info = &authority[..authority.rfind('@')?];
    let colon = user_info.find(':')?;
    Some(authority_start + colon + 1..authority_start + user_info.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_redacted_and_nothing_else_changes() {
        assert_eq!(
            redact_url("https://admin:pa:ss@prom.example:9090/api?q=a@b"),
            "https://admin:***redacted***@prom.example:9090/api?q=a@b"
        );
        for unchanged in [
            "http://127.0.0.1:9090",
            "http://user@host/path",
            "http://host/path?user:pass@x",
            "not a url",
        ] {
            assert_eq!(redact_url(unchanged), unchanged);
            assert_eq!(url_password(unchanged), None);
        }
        assert_eq!(
            url_password("https://admin:pa:ss@prom.example:9090/api?q=a@b"),
            Some("pa:ss")
        );
    }

    #[test]
    fn secret_never_prints_its_value() {
        let secret = Secret::new("s3cr3t-token");
        assert_eq!(format!("{secret}"), Secret::REDACTED);
        assert_eq!(format!("{secret:?}"), Secret::REDACTED);
        let json = serde_json::to_string(&secret).unwrap();
        assert!(!json.contains("s3cr3t"), "{json}");
        assert_eq!(secret.expose(), "s3cr3t-token");
    }
}
