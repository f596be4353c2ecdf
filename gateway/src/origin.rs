//! The Origin policy (`http.allowed_origins`): which web pages may use a browser's credentials
//! against this gateway. A browser sends Basic credentials it has cached with any request a page
//! makes, WebSocket upgrades included, so without this check any page could open a session as its
//! visitor (cross-site WebSocket hijacking). Requests without `Origin` come from non-browser
//! clients and same-origin ones from the gateway's own pages; both pass. Everything else, `null`
//! included, must be listed.

use crate::forwarded::Proxies;
use actix_web::http::header;
use actix_web::HttpRequest;

/// An origin as a browser serializes it: scheme, host and port (the scheme's default if absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// `host[:port]` (IPv6 in brackets) split into a lowercase host and an optional port.
fn split_authority(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = authority.to_ascii_lowercase();
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if after.is_empty() => None,
            None => return None,
        };
        (format!("[{h}]"), port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p.parse().ok()?)),
            None => (authority, None),
        }
    };
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._[]:*".contains(c));
    valid.then_some((host, port))
}

impl Origin {
    /// An `Origin` header value; None for `null` and anything that is not `scheme://authority`.
    pub fn parse(s: &str) -> Option<Origin> {
        let (scheme, authority) = s.trim().split_once("://")?;
        let scheme = scheme.to_ascii_lowercase();
        if authority.contains(['/', '?', '#', '@']) {
            return None;
        }
        let default = default_port(&scheme)?;
        let (host, port) = split_authority(authority)?;
        Some(Origin {
            scheme,
            host,
            port: port.unwrap_or(default),
        })
    }
}

/// One entry of `http.allowed_origins`: an exact origin or `scheme://*.domain[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    scheme: String,
    /// The exact host, or for a wildcard the suffix every matching host ends with (`.domain`).
    host: String,
    wildcard: bool,
    port: u16,
}

impl Pattern {
    /// Parses a configured origin, saying what is wrong with it.
    pub fn parse(s: &str) -> Result<Pattern, &'static str> {
        let Some(o) = Origin::parse(s) else {
            return Err("is not an origin of the form https://host[:port] (no path, not null)");
        };
        if o.scheme != "http" && o.scheme != "https" {
            return Err("must use http or https");
        }
        let (host, wildcard) = match o.host.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') && !suffix[1..].contains('*') => {
                (suffix.to_owned(), true)
            }
            Some(_) => {
                return Err("may only use '*' as its whole first label (https://*.example.com)")
            }
            None if o.host.contains('*') => {
                return Err("may only use '*' as its whole first label (https://*.example.com)")
            }
            None => (o.host, false),
        };
        Ok(Pattern {
            scheme: o.scheme,
            host,
            wildcard,
            port: o.port,
        })
    }

    pub fn matches(&self, o: &Origin) -> bool {
        let host = if self.wildcard {
            o.host.len() > self.host.len() && o.host.ends_with(&self.host)
        } else {
            o.host == self.host
        };
        host && o.scheme == self.scheme && o.port == self.port
    }
}

/// What the policy says about one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// No `Origin`: not a browser, or a browser making a same-origin GET.
    Absent,
    /// The page is the gateway's own (the `Origin` names the `Host` the request was sent to).
    SameOrigin(String),
    /// Listed in `http.allowed_origins`.
    Allowed(String),
    /// Any other origin; the value as sent.
    Refused(String),
}

impl Verdict {
    /// The origin to name in `Access-Control-Allow-Origin`, if the request may have one.
    pub fn cors_origin(&self) -> Option<&str> {
        match self {
            Verdict::SameOrigin(o) | Verdict::Allowed(o) => Some(o),
            _ => None,
        }
    }
}

pub struct OriginPolicy {
    allowed: Vec<Pattern>,
    proxies: Proxies,
}

impl OriginPolicy {
    /// `allowed` was validated at config load; entries that do not parse are skipped.
    pub fn new(allowed: &[String], trusted_proxies: &[String]) -> OriginPolicy {
        OriginPolicy {
            allowed: allowed
                .iter()
                .filter_map(|s| Pattern::parse(s).ok())
                .collect(),
            proxies: Proxies::new(trusted_proxies),
        }
    }

    pub fn check(&self, req: &HttpRequest) -> Verdict {
        let Some(value) = req.headers().get(header::ORIGIN) else {
            return Verdict::Absent;
        };
        let raw = String::from_utf8_lossy(value.as_bytes()).into_owned();
        let Some(origin) = Origin::parse(&raw) else {
            return Verdict::Refused(raw);
        };
        if self.is_same_origin(req, &origin) {
            return Verdict::SameOrigin(raw);
        }
        if self.allowed.iter().any(|p| p.matches(&origin)) {
            return Verdict::Allowed(raw);
        }
        Verdict::Refused(raw)
    }

    /// The `Origin` names the host and port the request was addressed to (`Host`). The scheme is
    /// compared only when a trusted proxy reports it: the gateway itself speaks plain HTTP, so a
    /// page served over TLS in front of it is as much its own as one over plain HTTP. A load
    /// balancer that rewrites `Host` hides the public name: list the public origin then.
    fn is_same_origin(&self, req: &HttpRequest, origin: &Origin) -> bool {
        let Some((host, port)) = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(split_authority)
        else {
            return false;
        };
        let scheme_ok = match self.proxies.client_scheme(req) {
            Some(s) => s == origin.scheme,
            None => origin.scheme == "http" || origin.scheme == "https",
        };
        let port = match port {
            Some(p) => p,
            // A Host without a port means the scheme's default, for whichever scheme was used.
            None => match self.proxies.client_scheme(req) {
                Some(s) => default_port(&s).unwrap_or(0),
                None => default_port(&origin.scheme).unwrap_or(0),
            },
        };
        scheme_ok && host == origin.host && port == origin.port
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn verdict(policy: &OriginPolicy, host: &str, origin: Option<&str>) -> Verdict {
        let mut r = TestRequest::default()
            .peer_addr("127.0.0.1:5000".parse().unwrap())
            .insert_header(("host", host));
        if let Some(o) = origin {
            r = r.insert_header(("origin", o));
        }
        policy.check(&r.to_http_request())
    }

    #[test]
    fn origins_and_patterns_parse_strictly() {
        assert_eq!(
            Origin::parse("HTTPS://App.Example.com"),
            Some(Origin {
                scheme: "https".into(),
                host: "app.example.com".into(),
                port: 443
            })
        );
        assert_eq!(Origin::parse("http://[::1]:8080").unwrap().port, 8080);
        for bad in [
            "null",
            "",
            "app.example.com",
            "https://a.com/path",
            "ftp://a.com",
            "https://u@a.com",
        ] {
            assert_eq!(Origin::parse(bad), None, "{bad}");
        }
        assert!(Pattern::parse("https://*.example.com").is_ok());
        for bad in [
            "null",
            "https://*example.com",
            "https://a.*.com",
            "ftp://x.com",
            "https://x.com/",
        ] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn wildcards_match_subdomains_of_the_same_scheme_and_port_only() {
        let p = Pattern::parse("https://*.example.com").unwrap();
        let m = |s: &str| p.matches(&Origin::parse(s).unwrap());
        assert!(m("https://a.example.com"));
        assert!(m("https://a.b.example.com"));
        assert!(m("https://a.example.com:443"));
        assert!(!m("https://example.com"));
        assert!(!m("https://evilexample.com"));
        assert!(!m("http://a.example.com"));
        assert!(!m("https://a.example.com:8443"));
        assert!(!m("https://a.example.com.evil.net"));
    }

    #[test]
    fn absent_same_origin_and_listed_origins_pass_everything_else_is_refused() {
        let p = OriginPolicy::new(
            &[
                "https://dash.example.com".into(),
                "https://*.apps.example.com".into(),
            ],
            &[],
        );
        assert_eq!(verdict(&p, "gw:8080", None), Verdict::Absent);
        assert!(matches!(
            verdict(&p, "gw:8080", Some("http://gw:8080")),
            Verdict::SameOrigin(_)
        ));
        assert!(matches!(
            verdict(&p, "gw.example.com", Some("https://gw.example.com")),
            Verdict::SameOrigin(_)
        ));
        assert!(matches!(
            verdict(&p, "gw:8080", Some("https://dash.example.com")),
            Verdict::Allowed(_)
        ));
        assert!(matches!(
            verdict(&p, "gw:8080", Some("https://x.apps.example.com")),
            Verdict::Allowed(_)
        ));
        for refused in [
            "https://evil.example",
            "null",
            "http://gw:8081",
            "http://gw.evil:8080",
            "https://dash.example.com:444",
        ] {
            assert!(
                matches!(verdict(&p, "gw:8080", Some(refused)), Verdict::Refused(_)),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_trusted_proxy_makes_the_same_origin_check_scheme_aware() {
        let p = OriginPolicy::new(&[], &["127.0.0.1".into()]);
        let req = |proto: &str, origin: &str| {
            TestRequest::default()
                .peer_addr("127.0.0.1:5000".parse().unwrap())
                .insert_header(("host", "gw.example.com"))
                .insert_header(("x-forwarded-proto", proto))
                .insert_header(("origin", origin))
                .to_http_request()
        };
        assert!(matches!(
            p.check(&req("https", "https://gw.example.com")),
            Verdict::SameOrigin(_)
        ));
        assert!(matches!(
            p.check(&req("https", "http://gw.example.com")),
            Verdict::Refused(_)
        ));
    }
}
