//! What the operator granted one probe: HTTP authorities, TCP addresses, DNS, readable directories, system statistics.
//!
//! Everything is denied unless listed. The checks here are pure (no I/O
//! except resolving names listed in `allow_tcp`), so the sandbox's rules are
//! unit-tested without a guest.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

/// One probe's grants. The default grants nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Authorities a probe may send HTTP requests to.
    pub http: Vec<HostPort>,
    /// Addresses a probe may open TCP connections to.
    pub tcp: Vec<HostPort>,
    /// Whether the probe may resolve names.
    pub dns: bool,
    /// Directories the probe may read (absolute; mounted at the same path).
    pub read: Vec<PathBuf>,
    /// Whether the `assay:plugin/system` statistics answer.
    pub system: bool,
}

/// `host:port` with `*.suffix` hosts, CIDR ranges (TCP only) and `*` ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: HostPattern,
    /// `None`: any port.
    pub port: Option<u16>,
    /// As written, for messages.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// A name, lower-cased: matches itself only.
    Name(String),
    /// `*.example.com`: any name ending in `.example.com` (not the bare domain).
    Suffix(String),
    /// An address, or a range of them (`10.0.0.0/8`; a bare address is a /32 or /128).
    Net(IpAddr, u8),
}

impl HostPort {
    /// Parses `host:port`, `[v6]:port`, `*.domain:port`, `10.0.0.0/8:443`, `host:*`.
    pub fn parse(s: &str) -> Result<HostPort, String> {
        let bad = |why: &str| {
            format!(
                "{s:?}: {why} (expected host:port, e.g. \"api.example.com:443\", \"*.example.com:443\", \"10.0.0.0/8:5432\" or \"127.0.0.1:*\")"
            )
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(|| bad("no port"))?;
        let port = match port {
            "*" => None,
            p => Some(p.parse::<u16>().map_err(|_| bad("invalid port"))?),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let pattern = if let Some((net, bits)) = host.split_once('/') {
            let ip: IpAddr = net.parse().map_err(|_| bad("invalid network address"))?;
            let max = if ip.is_ipv4() { 32 } else { 128 };
            let bits: u8 = bits
                .parse()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| bad("invalid prefix length"))?;
            HostPattern::Net(ip, bits)
        } else if let Ok(ip) = host.parse::<IpAddr>() {
            HostPattern::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
        } else if let Some(suffix) = host.strip_prefix("*.") {
            valid_name(suffix).map_err(&bad)?;
            HostPattern::Suffix(format!(".{}", suffix.to_ascii_lowercase()))
        } else {
            valid_name(host).map_err(&bad)?;
            HostPattern::Name(host.to_ascii_lowercase())
        };
        Ok(HostPort {
            host: pattern,
            port,
            text: s.to_owned(),
        })
    }

    fn port_matches(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }

    /// Whether an HTTP request to `host:port` (a name or an address) is allowed by this entry.
    pub fn matches_authority(&self, host: &str, port: u16) -> bool {
        if !self.port_matches(port) {
            return false;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match &self.host {
            HostPattern::Name(n) => host.eq_ignore_ascii_case(n),
            HostPattern::Suffix(s) => {
                host.len() > s.len() && host.to_ascii_lowercase().ends_with(s.as_str())
            }
            HostPattern::Net(net, bits) => host
                .parse::<IpAddr>()
                .is_ok_and(|ip| in_net(ip, *net, *bits)),
        }
    }

    /// Whether a connection to `addr` is allowed, given the addresses this
    /// entry's name resolves to (`resolved`, empty for address entries).
    pub fn matches_addr(&self, addr: SocketAddr, resolved: &[IpAddr]) -> bool {
        if !self.port_matches(addr.port()) {
            return false;
        }
        match &self.host {
            HostPattern::Net(net, bits) => in_net(addr.ip(), *net, *bits),
            HostPattern::Name(_) => resolved.contains(&canonical(addr.ip())),
            // A socket sees addresses only; a suffix cannot be checked against one.
            HostPattern::Suffix(_) => false,
        }
    }
}

fn valid_name(n: &str) -> Result<(), &'static str> {
    let ok = !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok { Ok(()) } else { Err("invalid host name") }
}

/// IPv4-mapped IPv6 addresses compare as IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (canonical(ip), net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

impl Grants {
    /// The `allow_http` entry that lets a request to `host:port` through.
    pub fn http_allows(&self, host: &str, port: u16) -> bool {
        self.http.iter().any(|h| h.matches_authority(host, port))
    }

    /// Names listed in `allow_tcp`, which the host resolves to check connections.
    pub fn tcp_names(&self) -> impl Iterator<Item = &str> {
        self.tcp.iter().filter_map(|h| match &h.host {
            HostPattern::Name(n) => Some(n.as_str()),
            _ => None,
        })
    }

    /// Whether a TCP connection to `addr` is allowed; `resolve` gives the
    /// addresses of a name listed in `allow_tcp`.
    pub fn tcp_allows(&self, addr: SocketAddr, resolved: &dyn Fn(&str) -> Vec<IpAddr>) -> bool {
        self.tcp.iter().any(|h| {
            let names = match &h.host {
                HostPattern::Name(n) => resolved(n),
                _ => Vec::new(),
            };
            h.matches_addr(addr, &names)
        })
    }

    /// Whether `path` lies inside a readable directory, after resolving
    /// symbolic links and `..` (a path that does not exist is not inside).
    pub fn readable(&self, path: &Path) -> bool {
        let Ok(real) = std::fs::canonicalize(path) else {
            return false;
        };
        self.read
            .iter()
            .any(|dir| std::fs::canonicalize(dir).is_ok_and(|d| real.starts_with(d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> HostPort {
        HostPort::parse(s).unwrap()
    }

    #[test]
    fn authorities_match_names_suffixes_addresses_and_ports() {
        assert!(hp("API.example.com:443").matches_authority("api.example.com", 443));
        assert!(!hp("api.example.com:443").matches_authority("api.example.com", 80));
        assert!(!hp("api.example.com:443").matches_authority("evil-api.example.com", 443));
        assert!(hp("*.example.com:443").matches_authority("a.b.example.com", 443));
        assert!(!hp("*.example.com:443").matches_authority("example.com", 443));
        assert!(!hp("*.example.com:443").matches_authority("badexample.com", 443));
        assert!(hp("127.0.0.1:*").matches_authority("127.0.0.1", 9));
        assert!(hp("[::1]:80").matches_authority("[::1]", 80));
        assert!(hp("10.0.0.0/8:80").matches_authority("10.1.2.3", 80));
        assert!(!hp("10.0.0.0/8:80").matches_authority("11.0.0.1", 80));
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        assert!(
            HostPort::parse("example.com")
                .unwrap_err()
                .contains("no port")
        );
        assert!(
            HostPort::parse("example.com:http")
                .unwrap_err()
                .contains("invalid port")
        );
        assert!(
            HostPort::parse("10.0.0.0/33:1")
                .unwrap_err()
                .contains("prefix")
        );
        assert!(HostPort::parse("a..b:1").unwrap_err().contains("host name"));
        assert!(HostPort::parse(":1").unwrap_err().contains("no host"));
    }

    #[test]
    fn tcp_checks_addresses_after_resolution() {
        let g = Grants {
            tcp: vec![
                hp("db.internal:5432"),
                hp("127.0.0.0/8:22"),
                hp("*.x.com:1"),
            ],
            ..Grants::default()
        };
        let resolve = |n: &str| -> Vec<IpAddr> {
            if n == "db.internal" {
                vec!["10.0.0.5".parse().unwrap()]
            } else {
                vec![]
            }
        };
        let a = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert!(g.tcp_allows(a("10.0.0.5:5432"), &resolve));
        // The name is not the address: another address with the right port is refused.
        assert!(!g.tcp_allows(a("10.0.0.6:5432"), &resolve));
        assert!(g.tcp_allows(a("127.0.0.9:22"), &resolve));
        assert!(g.tcp_allows(a("[::ffff:127.0.0.1]:22"), &resolve));
        assert!(!g.tcp_allows(a("127.0.0.1:23"), &resolve));
        assert!(!g.tcp_allows(a("1.2.3.4:1"), &resolve));
        assert_eq!(g.tcp_names().collect::<Vec<_>>(), ["db.internal"]);
        assert!(!Grants::default().tcp_allows(a("127.0.0.1:22"), &resolve));
    }

    #[test]
    fn readable_paths_stay_inside_the_granted_directories() {
        let root = tempfile::tempdir().unwrap();
        let granted = root.path().join("granted");
        std::fs::create_dir(&granted).unwrap();
        std::fs::write(granted.join("f"), b"x").unwrap();
        std::fs::write(root.path().join("secret"), b"x").unwrap();
        let g = Grants {
            read: vec![granted.clone()],
            ..Grants::default()
        };
        assert!(g.readable(&granted.join("f")));
        assert!(g.readable(&granted));
        assert!(!g.readable(&granted.join("../secret")));
        assert!(!g.readable(&root.path().join("secret")));
        assert!(!g.readable(&granted.join("missing")));
    }
}
