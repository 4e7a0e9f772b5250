//! Who sent a request, behind a reverse proxy (`--trusted-proxies`): the one forwarding header
//! the proxy writes (`--forwarded-header`: `X-Forwarded-For` with `X-Forwarded-Proto` by
//! default, or `Forwarded`, RFC 7239) is believed only when the connection comes from a trusted
//! proxy, and only as far back as the chain of trusted proxies goes. The other header is
//! ignored: a proxy that writes one usually passes the other on from the client untouched, so
//! believing it would let anyone name any address.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use ipnet::IpNet;
use poem::http::HeaderMap;
use poem::{Endpoint, Middleware, Request, Result};

/// Which forwarding header the trusted proxies write.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ForwardedHeader {
    /// `X-Forwarded-For` (and `X-Forwarded-Proto`): nginx's, Caddy's, HAProxy's and most
    /// load balancers' default.
    #[default]
    #[value(name = "x-forwarded-for")]
    XForwardedFor,
    /// `Forwarded` (RFC 7239).
    #[value(name = "forwarded")]
    Forwarded,
}

/// The proxies whose forwarding headers are believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Arc<Vec<IpNet>>,
    header: ForwardedHeader,
}

impl TrustedProxies {
    /// A comma-separated list of CIDRs or single addresses.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| {
                item.parse::<IpNet>()
                    .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{item}` is not an address or a CIDR such as 10.0.0.0/8"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustedProxies {
            nets: Arc::new(nets),
            header: ForwardedHeader::default(),
        })
    }

    /// The proxies, believing `header` (and only it).
    pub fn reading(mut self, header: ForwardedHeader) -> TrustedProxies {
        self.header = header;
        self
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// The client behind `peer`, the socket's address.
    pub fn resolve(&self, peer: Option<IpAddr>, headers: &HeaderMap) -> Client {
        let Some(peer) = peer.map(canonical) else {
            return Client::default();
        };
        let forwarded = Forwarding::read(headers, self.header);
        if !self.contains(peer) {
            return Client {
                ip: Some(peer),
                https: None,
                untrusted_headers: forwarded.is_some(),
            };
        }
        let Some(forwarded) = forwarded else {
            return Client {
                ip: Some(peer),
                ..Client::default()
            };
        };
        // From the nearest hop outwards: each trusted hop vouches for the one before it; the
        // first address not trusted is the client. An address that cannot be read (`unknown`,
        // an obfuscated name) ends the chain at the last hop that could.
        let mut client = peer;
        let mut proto = forwarded.protos.last().cloned().flatten();
        for (hop, hop_proto) in forwarded.hops.iter().zip(&forwarded.protos).rev() {
            let Some(ip) = hop.map(canonical) else { break };
            client = ip;
            if hop_proto.is_some() {
                proto.clone_from(hop_proto);
            }
            if !self.contains(ip) {
                break;
            }
        }
        Client {
            ip: Some(client),
            https: proto.map(|p| p.eq_ignore_ascii_case("https")),
            untrusted_headers: false,
        }
    }
}

/// An IPv4 address that came in as IPv6 (`::ffff:a.b.c.d`) is compared as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// Who a request came from, as far as can be trusted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Client {
    /// The client's address; None for a listener without addresses.
    pub ip: Option<IpAddr>,
    /// Whether the client spoke HTTPS to the proxy, when a trusted proxy said so.
    pub https: Option<bool>,
    /// The request carried forwarding headers from an address that is not trusted.
    pub untrusted_headers: bool,
}

/// The forwarding chain a request carries, oldest hop first.
struct Forwarding {
    hops: Vec<Option<IpAddr>>,
    /// The scheme each hop was reached by, where said.
    protos: Vec<Option<String>>,
}

impl Forwarding {
    /// The chain in `header`, the one the trusted proxies write; the other is never read.
    fn read(headers: &HeaderMap, header: ForwardedHeader) -> Option<Forwarding> {
        let values = |name: &str| -> Vec<String> {
            headers
                .get_all(name)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .collect()
        };
        if header == ForwardedHeader::Forwarded {
            let elements = values("forwarded");
            if elements.is_empty() {
                return None;
            }
            let mut hops = Vec::new();
            let mut protos = Vec::new();
            for element in elements {
                let mut hop = None;
                let mut proto = None;
                for pair in element.split(';') {
                    let Some((key, value)) = pair.split_once('=') else {
                        continue;
                    };
                    let value = value.trim().trim_matches('"');
                    match key.trim().to_ascii_lowercase().as_str() {
                        "for" => hop = Some(node_address(value)),
                        "proto" => proto = Some(value.to_string()),
                        _ => {}
                    }
                }
                // An element without `for` names no hop; its proto still counts.
                hops.push(hop.flatten());
                protos.push(proto);
            }
            return Some(Forwarding { hops, protos });
        }
        let hops: Vec<Option<IpAddr>> = values("x-forwarded-for")
            .iter()
            .map(|v| node_address(v))
            .collect();
        if hops.is_empty() {
            return None;
        }
        // The first proxy writes what the client spoke; later ones may append theirs.
        let proto = values("x-forwarded-proto").into_iter().next();
        let mut protos = vec![None; hops.len()];
        protos[0] = proto;
        Some(Forwarding { hops, protos })
    }
}

/// `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::17]:4711`, `2001:db8::17`.
fn node_address(value: &str) -> Option<IpAddr> {
    let value = value.trim();
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    if let Ok(ip) = value.parse() {
        return Some(ip);
    }
    value.rsplit_once(':')?.0.parse().ok()
}

/// Whether the hint about untrusted forwarding headers was logged yet (once per process).
static HINTED: AtomicBool = AtomicBool::new(false);

/// Puts the request's [`Client`] into its extensions, for the access log, the receiver and
/// anyone else who needs to know who is asking.
pub struct ClientAddress {
    pub proxies: TrustedProxies,
}

impl<E: Endpoint> Middleware<E> for ClientAddress {
    type Output = ClientAddressEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        ClientAddressEndpoint {
            inner,
            proxies: self.proxies.clone(),
        }
    }
}

pub struct ClientAddressEndpoint<E> {
    inner: E,
    proxies: TrustedProxies,
}

impl<E: Endpoint> Endpoint for ClientAddressEndpoint<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        let peer = req.remote_addr().as_socket_addr().map(|a| a.ip());
        // With no proxy trusted, the headers matter only for the hint, which is given once.
        let client = if self.proxies.is_empty() && HINTED.load(Ordering::Relaxed) {
            Client {
                ip: peer.map(canonical),
                ..Client::default()
            }
        } else {
            self.proxies.resolve(peer, req.headers())
        };
        if client.untrusted_headers && !HINTED.swap(true, Ordering::Relaxed) {
            tracing::info!(
                source = ?peer,
                "a request carried X-Forwarded-For or Forwarded from an address that is not a \
                 trusted proxy: the headers are ignored and the socket's address is used; if \
                 it is your reverse proxy, add it to --trusted-proxies (logged once)"
            );
        }
        req.extensions_mut().insert(client);
        self.inner.call(req).await
    }
}

/// The client of a request that went through [`ClientAddress`]; the socket's address otherwise.
pub fn client_of(req: &Request) -> Client {
    req.extensions()
        .get::<Client>()
        .copied()
        .unwrap_or_else(|| Client {
            ip: req
                .remote_addr()
                .as_socket_addr()
                .map(|a| canonical(a.ip())),
            ..Client::default()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                poem::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                v.parse().expect("value"),
            );
        }
        map
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().expect("ip"))
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 192.168.1.1").expect("parse");
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let trusted = proxies.resolve(ip("10.1.2.3"), &h);
        assert_eq!(trusted.ip, ip("203.0.113.7"));
        assert_eq!(trusted.https, Some(true));
        let untrusted = proxies.resolve(ip("198.51.100.9"), &h);
        assert_eq!(untrusted.ip, ip("198.51.100.9"));
        assert_eq!(untrusted.https, None);
        assert!(untrusted.untrusted_headers);
        // An IPv4 peer seen through an IPv6 socket is the same address.
        assert_eq!(
            proxies.resolve(ip("::ffff:192.168.1.1"), &h).ip,
            ip("203.0.113.7")
        );
    }

    #[test]
    fn a_chain_is_believed_only_as_far_as_its_trusted_hops() {
        let proxies = TrustedProxies::parse("10.0.0.0/8").expect("parse");
        // The client wrote a fake first hop; the trusted proxy appended the real client.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.7, 10.0.0.2")]);
        assert_eq!(proxies.resolve(ip("10.0.0.1"), &h).ip, ip("203.0.113.7"));
        let h = headers(&[("x-forwarded-for", "unknown, 10.0.0.2")]);
        assert_eq!(proxies.resolve(ip("10.0.0.1"), &h).ip, ip("10.0.0.2"));
    }

    #[test]
    fn only_the_header_the_proxy_writes_is_read() {
        let h = headers(&[
            ("forwarded", "for=198.51.100.66;proto=https"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        // By default a client's own `Forwarded`, passed on by the proxy, is ignored...
        let proxies = TrustedProxies::parse("10.0.0.0/8").expect("parse");
        assert_eq!(proxies.resolve(ip("10.0.0.1"), &h).ip, ip("203.0.113.7"));
        let only_forwarded = headers(&[("forwarded", "for=198.51.100.66")]);
        assert_eq!(
            proxies.resolve(ip("10.0.0.1"), &only_forwarded).ip,
            ip("10.0.0.1"),
            "the proxy itself, not what the client wrote"
        );
        // ...and with `--forwarded-header forwarded`, a client's X-Forwarded-For is.
        let proxies = proxies.reading(ForwardedHeader::Forwarded);
        assert_eq!(proxies.resolve(ip("10.0.0.1"), &h).ip, ip("198.51.100.66"));
        let only_xff = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(
            proxies.resolve(ip("10.0.0.1"), &only_xff).ip,
            ip("10.0.0.1")
        );
    }

    #[test]
    fn forwarded_is_read_as_rfc_7239_writes_it() {
        let proxies = TrustedProxies::parse("10.0.0.0/8")
            .expect("parse")
            .reading(ForwardedHeader::Forwarded);
        let h = headers(&[
            ("forwarded", r#"for="[2001:db8:cafe::17]:4711";proto=https"#),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        let client = proxies.resolve(ip("10.0.0.1"), &h);
        assert_eq!(client.ip, ip("2001:db8:cafe::17"));
        assert_eq!(client.https, Some(true));
        let h = headers(&[("forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43")]);
        let client = proxies.resolve(ip("10.0.0.1"), &h);
        assert_eq!(client.ip, ip("192.0.2.60"));
        assert_eq!(client.https, Some(false));
        let h = headers(&[("forwarded", r#"for="192.0.2.43:47011""#)]);
        assert_eq!(proxies.resolve(ip("10.0.0.1"), &h).ip, ip("192.0.2.43"));
    }

    #[test]
    fn bad_proxy_lists_are_refused() {
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
        assert!(TrustedProxies::parse("").expect("empty").is_empty());
    }
}
