//! Where an HTTP API request goes, read from the raw request path so that every part is
//! percent-decoded exactly once. The router has already decoded all but `%`, `/` and `+` in the
//! path it matched, so its captures are neither raw nor fully decoded; taking the raw path here
//! keeps a `%252F` a literal `%2F` and makes an encoded `/` (`%2F`) inside the rest a `/`, as
//! Ditto decodes attribute and property paths as a whole (ditto-features §8): an attribute
//! `location%2Flat` is `location/lat`, and a policy resource `thing:%2Ffeatures` is the resource
//! `thing:/features`, not a key that matches nothing.

use twinwire_common::Error;

/// `/api/2/{group}/{id}[/{rest}]`, decoded.
#[derive(Debug, PartialEq, Eq)]
pub struct ApiPath {
    pub group: String,
    pub id: String,
    /// Below the entity, without the `/` after the id nor a trailing one; empty for the entity
    /// itself.
    pub rest: String,
}

impl ApiPath {
    /// Splits a raw path the router matched as `/api/2/{group}/{id}[/{rest}]` (the first three
    /// segments may be spelled encoded: they were matched already).
    pub fn parse(raw: &str) -> Result<ApiPath, Error> {
        let unknown = || Error::UnknownPath {
            path: raw.to_owned(),
        };
        let mut parts = raw.splitn(6, '/').skip(3);
        let group = decode(parts.next().ok_or_else(unknown)?)?;
        let id = decode(parts.next().ok_or_else(unknown)?)?;
        let rest = decode(parts.next().unwrap_or(""))?;
        Ok(ApiPath {
            group,
            id,
            // A leading `/` stays: `//` in a pointer is Ditto's 400 `json.pointer.invalid`.
            rest: rest.trim_end_matches('/').to_owned(),
        })
    }
}

/// Percent-decodes once. A `%` not followed by two hex digits stays as it is (as the router leaves
/// it); bytes that do not decode to UTF-8 make the path unusable.
pub fn decode(s: &str) -> Result<String, Error> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| Error::UnknownPath {
        path: String::from_utf8_lossy(e.as_bytes()).into_owned(),
    })
}

/// A raw path as Ditto's gateway renders the request URI (Pekko keeps the path decoded and
/// encodes again only what a path segment cannot hold): escapes of characters a segment may hold
/// (RFC 3986 `pchar`) are undone, the others stay escaped (in upper case). So `org.x%3Aa` is
/// `org.x:a` and `%61` is `a`, while `%2F` stays `%2F`: a `Location` is the same however the
/// request spelled its path.
pub fn normalized(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let b = (hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8;
                if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b) {
                    out.push(b);
                } else {
                    out.extend_from_slice(format!("%{b:02X}").as_bytes());
                }
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    // Only ASCII was changed, so what was UTF-8 still is.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_rendered_as_pekko_renders_it() {
        let table = [
            ("/api/2/things/org.x%3Aa", "/api/2/things/org.x:a"),
            ("/%61pi/2/thing%73/org.x:a", "/api/2/things/org.x:a"),
            ("/a/location%2flat", "/a/location%2Flat"),
            ("/a/b%20c%25", "/a/b%20c%25"),
            ("/a/%7e%40", "/a/~@"),
            ("/a/100%", "/a/100%"),
        ];
        for (raw, rendered) in table {
            assert_eq!(normalized(raw), rendered, "{raw}");
        }
    }

    #[test]
    fn segments_are_decoded_exactly_once() {
        let table = [
            ("a%2Fb", "a/b"),
            ("a%2fb", "a/b"),
            ("a%252Fb", "a%2Fb"),
            ("thing:%2Ffeatures", "thing:/features"),
            ("%C3%A4+x", "ä+x"),
            ("100%", "100%"),
            ("%zz%4", "%zz%4"),
            ("plain", "plain"),
        ];
        for (raw, decoded) in table {
            assert_eq!(decode(raw).unwrap(), decoded, "{raw}");
        }
        assert!(decode("%FF").is_err(), "not UTF-8");
    }

    #[test]
    fn paths_split_into_group_id_and_rest() {
        let p = |group: &str, id: &str, rest: &str| ApiPath {
            group: group.into(),
            id: id.into(),
            rest: rest.into(),
        };
        let table = [
            ("/api/2/things/org.x:a", p("things", "org.x:a", "")),
            ("/api/2/things/org.x:a/", p("things", "org.x:a", "")),
            ("/api/%32/thing%73/org.x%3Aa", p("things", "org.x:a", "")),
            (
                "/api/2/things/org.x:a/attributes/location%2Flat/",
                p("things", "org.x:a", "attributes/location/lat"),
            ),
            (
                "/api/2/policies/org.x:a/entries/E/resources/thing:%2Ffeatures",
                p("policies", "org.x:a", "entries/E/resources/thing:/features"),
            ),
            (
                "/api/2/things/org.x:a//attributes",
                p("things", "org.x:a", "/attributes"),
            ),
            (
                "/api/2/things/org.x:a/inbox/messages/a%2Fb%252F",
                p("things", "org.x:a", "inbox/messages/a/b%2F"),
            ),
        ];
        for (raw, expected) in table {
            assert_eq!(ApiPath::parse(raw).unwrap(), expected, "{raw}");
        }
    }
}
