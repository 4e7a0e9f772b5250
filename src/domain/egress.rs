//! Which network addresses outbound requests may not reach unless an admin allows their
//! origin (`--egress-allow`): loopback, private, shared (carrier-grade NAT), link-local (where
//! cloud metadata services answer), unique-local, multicast, unspecified and reserved
//! addresses, IPv4 ones written as IPv6 too. A URL a user typed (a runner, an `api_url`, a
//! Slack URL, an issuer) must not turn this server into a way into the network it runs in.
//! Pure: the resolver that applies it is `remote::egress`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why `ip` is fenced off, in words for an error; None for an address on the public internet.
pub fn fenced(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => fenced_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => fenced_v4(v4),
            None => fenced_v6(v6),
        },
    }
}

fn fenced_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_link_local() {
        // 169.254.169.254 is where AWS, GCP and Azure serve instance metadata and credentials.
        Some("a link-local address (cloud metadata lives there)")
    } else if ip.is_private() {
        Some("a private address")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a shared (carrier-grade NAT) address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a reserved or multicast address")
    } else if a == 192 && b == 0 && c == 0 {
        Some("an IETF protocol address")
    } else {
        None
    }
}

fn fenced_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address (cloud metadata lives there)")
    } else if first & 0xfe00 == 0xfc00 {
        // fd00:ec2::254 is AWS's metadata service over IPv6.
        Some("a unique-local (private) address")
    } else if ip.is_multicast() {
        Some("a reserved or multicast address")
    } else if let Some(v4) = ip.to_ipv4() {
        // ::a.b.c.d, the old IPv4-compatible form.
        fenced_v4(v4).or(Some("an IPv4-compatible address"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> Option<&'static str> {
        fenced(text.parse().expect("an address"))
    }

    #[test]
    fn the_inside_of_a_network_is_fenced_and_the_internet_is_not() {
        for inside in [
            "127.0.0.1",
            "127.8.9.10",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.1.1",
            "169.254.169.254",
            "100.100.100.200",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
        ] {
            assert!(reason(inside).is_some(), "{inside} is fenced");
        }
        for outside in [
            "140.82.112.6",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "172.32.0.1",
        ] {
            assert_eq!(reason(outside), None, "{outside} is reachable");
        }
        assert_eq!(
            reason("169.254.169.254"),
            Some("a link-local address (cloud metadata lives there)")
        );
    }
}
