//! What the load balancers in front say about a request (`http.trusted_proxies`): the client's
//! address and the scheme it used. Forwarding headers from anyone else are ignored, because a client
//! that could set them would choose its own address (escaping failed-login throttling) or scheme.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::IpAddr;

pub struct Proxies {
    trusted: Vec<IpNet>,
}

impl Proxies {
    pub fn new(trusted: &[String]) -> Proxies {
        // Validated at config load (`GatewayConfig::validate`).
        Proxies {
            trusted: trusted
                .iter()
                .filter_map(|s| crate::cidr::parse(s))
                .collect(),
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    fn is_via_proxy(&self, req: &HttpRequest) -> bool {
        req.peer_addr().is_some_and(|a| self.is_trusted(a.ip()))
    }

    /// The client's address: the peer's, or when the peer is a trusted proxy the last address of
    /// `X-Forwarded-For` that is not itself a trusted proxy (earlier entries are the client's to
    /// write).
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.is_trusted(peer) {
            return Some(peer);
        }
        let mut hops: Vec<IpAddr> = Vec::new();
        for v in req.headers().get_all("x-forwarded-for") {
            let Ok(v) = v.to_str() else { continue };
            hops.extend(v.split(',').filter_map(|s| s.trim().parse::<IpAddr>().ok()));
        }
        Some(
            hops.into_iter()
                .rev()
                .find(|ip| !self.is_trusted(*ip))
                .unwrap_or(peer),
        )
    }

    /// The scheme the client used (`http` or `https`) when a trusted proxy says so
    /// (`X-Forwarded-Proto`, or `proto=` of `Forwarded`); None when the gateway cannot know it
    /// (it speaks plain HTTP itself, so TLS may well be terminated in front of it).
    pub fn client_scheme(&self, req: &HttpRequest) -> Option<String> {
        if !self.is_via_proxy(req) {
            return None;
        }
        let h = req.headers();
        if let Some(p) = h.get("x-forwarded-proto").and_then(|v| v.to_str().ok()) {
            // A proxy chain may append: the first value is the client's.
            let first = p.split(',').next().unwrap_or("").trim();
            return (!first.is_empty()).then(|| first.to_ascii_lowercase());
        }
        let forwarded = h.get("forwarded").and_then(|v| v.to_str().ok())?;
        let first_hop = forwarded.split(',').next()?;
        first_hop.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("proto")
                .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn req(peer: &str, headers: &[(&str, &str)]) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(peer.parse().unwrap());
        for (k, v) in headers {
            r = r.insert_header((*k, *v));
        }
        r.to_http_request()
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let p = Proxies::new(&["10.0.0.0/8".into()]);
        let xff = [("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.7")];
        assert_eq!(
            p.client_ip(&req("10.0.0.1:1", &xff)),
            Some("2.2.2.2".parse().unwrap())
        );
        assert_eq!(
            p.client_ip(&req("3.3.3.3:1", &xff)),
            Some("3.3.3.3".parse().unwrap())
        );
        assert_eq!(
            p.client_ip(&req("10.0.0.1:1", &[])),
            Some("10.0.0.1".parse().unwrap())
        );
        let proto = [("x-forwarded-proto", "https")];
        assert_eq!(
            p.client_scheme(&req("10.0.0.1:1", &proto)).as_deref(),
            Some("https")
        );
        assert_eq!(p.client_scheme(&req("3.3.3.3:1", &proto)), None);
        let fwd = [("forwarded", "for=1.1.1.1;proto=HTTPS, for=10.0.0.2")];
        assert_eq!(
            p.client_scheme(&req("10.0.0.1:1", &fwd)).as_deref(),
            Some("https")
        );
    }
}
