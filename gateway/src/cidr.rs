//! IP networks as the configuration names them (trusted proxies): read here, so that validating
//! the configuration and the pre-authentication that uses it agree, and neither imports the other.

use ipnet::IpNet;
use std::net::IpAddr;

/// An IP (as a single-address network) or a CIDR.
pub fn parse(s: &str) -> Option<IpNet> {
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_networks_parse() {
        assert!(parse("127.0.0.1")
            .unwrap()
            .contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
        assert!(parse("10.0.0.0/8")
            .unwrap()
            .contains(&"10.2.3.4".parse::<IpAddr>().unwrap()));
        assert!(!parse("10.0.0.0/8")
            .unwrap()
            .contains(&"11.2.3.4".parse::<IpAddr>().unwrap()));
        assert!(parse("::1").is_some());
        assert!(parse("nonsense").is_none());
    }
}
