//! What the egress proxy lets through: an allowlist of host names (exact, or `*.suffix`)
//! and IP addresses, or any public address (`open`), optionally only some HTTP methods.
//!
//! Two checks, both needed: the name a client asks for must be admitted, and every
//! address it resolves to must be public (not loopback, private, link-local — cloud
//! metadata —, carrier-grade NAT, multicast, unspecified, or one of the host's own),
//! unless an entry names that very address. So an allowed name that resolves to
//! 127.0.0.1 (DNS rebinding) is refused. Knows no sockets; the proxy asks it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One `allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// A host name, lowercase, matched exactly.
    Host(String),
    /// `*.example.com`: any name ending in `.example.com` (not `example.com` itself).
    Suffix(String),
    /// An address: a client may name it directly, and it may be private or loopback.
    Ip(IpAddr),
}

impl Rule {
    /// Parses one entry; the error says what is wrong with it.
    pub fn parse(entry: &str) -> Result<Rule, String> {
        let e = entry.trim().trim_end_matches('.').to_ascii_lowercase();
        if let Ok(ip) = e
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            return Ok(Rule::Ip(ip));
        }
        let (wild, name) = match e.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, e.as_str()),
        };
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                && !l.starts_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(label_ok) {
            return Err(format!(
                "\"{entry}\" is not a host name, `*.domain` or an IP address"
            ));
        }
        Ok(match wild {
            true => Rule::Suffix(format!(".{name}")),
            false => Rule::Host(name.to_string()),
        })
    }

    fn admits(&self, host: &str) -> bool {
        match self {
            Rule::Host(h) => h == host,
            Rule::Suffix(s) => host.ends_with(s.as_str()) && host.len() > s.len(),
            Rule::Ip(ip) => host.parse::<IpAddr>().is_ok_and(|h| h == *ip),
        }
    }
}

/// The policy of one task's proxy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Policy {
    /// Any public address (`network = "open"`); else only what `allow` names.
    pub open: bool,
    pub allow: Vec<Rule>,
    /// Upper-case HTTP methods allowed; `None`: any.
    pub methods: Option<Vec<String>>,
    /// The host's own addresses (never reached unless an entry names one).
    pub own: Vec<IpAddr>,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The name (or literal address) is not on the allowlist.
    NotAllowed,
    /// It resolved (or is) an address drover never lets a sandbox reach.
    Internal(IpAddr),
    /// The method is not among `methods`.
    Method(String),
    /// A TLS client asked for another server than the one it connected to.
    Sni(String),
    /// Admitted, but no address answered (not the policy's doing: not reported blocked).
    Unreachable,
    /// A tunnel whose first bytes are not a TLS ClientHello drover can read.
    NotTls,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NotAllowed => write!(f, "not on the allowlist"),
            Refusal::Internal(ip) => write!(f, "{ip} is a private, loopback or host address"),
            Refusal::Method(m) => write!(f, "method {m} is not allowed"),
            Refusal::Sni(name) => write!(f, "TLS asked for another server ({name})"),
            Refusal::Unreachable => write!(f, "no address answered"),
            Refusal::NotTls => write!(
                f,
                "a tunnel carries TLS only, with its server name readable (no ECH)"
            ),
        }
    }
}

impl Policy {
    /// The policy for `allow` entries and `methods` (any case), the host's own addresses
    /// read now.
    pub fn new(open: bool, allow: &[String], methods: Option<&[String]>) -> Result<Policy, String> {
        let allow = allow
            .iter()
            .map(|e| Rule::parse(e))
            .collect::<Result<_, _>>()?;
        let methods = methods.map(|m| m.iter().map(|s| s.trim().to_ascii_uppercase()).collect());
        let own = if_addrs::get_if_addrs()
            .map(|l| l.into_iter().map(|i| i.ip()).collect())
            .unwrap_or_default();
        Ok(Policy {
            open,
            allow,
            methods,
            own,
        })
    }

    /// Whether a request for `host` (as the client named it) may go on to resolution.
    pub fn admits_name(&self, host: &str) -> Result<(), Refusal> {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if self.allow.iter().any(|r| r.admits(&host)) {
            return Ok(());
        }
        if self.open {
            // Any name; its addresses are checked next. A literal address is one too.
            return match host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            {
                Ok(ip) => self.admits_addr(ip),
                Err(_) => Ok(()),
            };
        }
        Err(Refusal::NotAllowed)
    }

    /// Whether the proxy may connect to `ip`: a public address, or one an entry names.
    pub fn admits_addr(&self, ip: IpAddr) -> Result<(), Refusal> {
        let ip = canonical(ip);
        if self.allow.contains(&Rule::Ip(ip)) {
            return Ok(());
        }
        if !is_public(ip) || self.own.iter().any(|o| canonical(*o) == ip) {
            return Err(Refusal::Internal(ip));
        }
        Ok(())
    }

    pub fn admits_method(&self, method: &str) -> Result<(), Refusal> {
        match &self.methods {
            Some(m) if !m.iter().any(|a| a.eq_ignore_ascii_case(method)) => {
                Err(Refusal::Method(method.to_ascii_uppercase()))
            }
            _ => Ok(()),
        }
    }
}

/// An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is that IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Whether `ip` is on the public internet (as far as drover lets a sandbox reach).
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => public_v6(v6),
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        // Carrier-grade NAT, and 192.0.0.0/24 (protocol assignments).
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && ip.octets()[2] == 0)
        // Benchmarking and reserved (240/4).
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // Unique local (fc00::/7) and link-local (fe80::/10).
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        // Site-local (fec0::/10), 6to4 (2002::/16, hides a v4), documentation
        // (2001:db8::/32), NAT64 and IPv4-compatible forms that hide a v4.
        || (s[0] & 0xffc0) == 0xfec0
        || s[0] == 0x2002
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x64 && s[1] == 0xff9b)
        || s[..6].iter().all(|&x| x == 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(open: bool, allow: &[&str]) -> Policy {
        let allow: Vec<String> = allow.iter().map(|s| s.to_string()).collect();
        Policy {
            own: vec!["198.51.100.9".parse().unwrap()],
            ..Policy::new(open, &allow, None).unwrap()
        }
    }

    #[test]
    fn names_exact_and_by_suffix() {
        let p = policy(
            false,
            &["pkg.example.org", "*.cdn.example.net", "203.0.113.7"],
        );
        assert!(p.admits_name("pkg.example.org").is_ok());
        assert!(p.admits_name("PKG.Example.Org.").is_ok());
        assert!(p.admits_name("a.b.cdn.example.net").is_ok());
        assert_eq!(p.admits_name("cdn.example.net"), Err(Refusal::NotAllowed));
        assert_eq!(
            p.admits_name("evilpkg.example.org"),
            Err(Refusal::NotAllowed)
        );
        assert_eq!(
            p.admits_name("pkg.example.org.evil.test"),
            Err(Refusal::NotAllowed)
        );
        assert!(p.admits_name("203.0.113.7").is_ok());
        assert_eq!(p.admits_name("203.0.113.8"), Err(Refusal::NotAllowed));
    }

    #[test]
    fn internal_addresses_only_when_named() {
        let p = policy(true, &["127.0.0.1"]);
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "127.0.0.2",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "198.51.100.9",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(p.admits_addr(ip).is_err(), "{ip} admitted");
        }
        assert!(p.admits_addr("127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.admits_addr("::ffff:127.0.0.1".parse().unwrap()).is_ok());
        assert!(p.admits_addr("93.184.215.14".parse().unwrap()).is_ok());
        assert!(p.admits_addr("2a00:1450::1".parse().unwrap()).is_ok());
        // Open admits any name, but a literal internal address is refused by name.
        assert!(p.admits_name("anything.test").is_ok());
        assert!(p.admits_name("169.254.169.254").is_err());
        assert!(p.admits_name("[::1]").is_err());
    }

    #[test]
    fn methods_and_bad_entries() {
        let p = Policy::new(false, &[], Some(&["get".into(), "HEAD".into()])).unwrap();
        assert!(p.admits_method("GET").is_ok());
        assert_eq!(p.admits_method("post"), Err(Refusal::Method("POST".into())));
        for bad in ["", "*.", "a..b", "exa mple.org", "http://x.org", "-a.org"] {
            let e = Policy::new(false, &[bad.to_string()], None).unwrap_err();
            assert!(e.contains("is not a host name"), "{bad}: {e}");
        }
    }
}
