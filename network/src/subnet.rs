//! IPv4 and IPv6 subnets (`10.89.0.0/24`, `fd00::/64`): parsing, containment, overlap and
//! address arithmetic, the vocabulary IPAM, routes and firewall rules share.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A subnet in CIDR notation. Always normalized: the host bits of `addr` are zero, so two
/// `Subnet`s compare equal exactly when they describe the same set of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    addr: IpAddr,
    prefix: u8,
}

/// Why a subnet could not be read or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    /// The text is not `address/prefix`.
    #[error("invalid subnet {0:?}: expected CIDR notation such as 10.89.0.0/24 or fd00::/64")]
    Syntax(String),
    /// The prefix length is beyond the address width.
    #[error("invalid subnet {text:?}: prefix length {prefix} exceeds {max}")]
    Prefix {
        /// The text as given.
        text: String,
        /// The prefix length found.
        prefix: u32,
        /// The largest valid prefix for the family.
        max: u8,
    },
}

impl Subnet {
    /// The subnet of `prefix` bits containing `addr` (host bits are cleared). `None` when the
    /// prefix is longer than the address.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Subnet> {
        let width = width(&addr);
        if prefix > width {
            return None;
        }
        let bits = to_bits(addr) & mask(prefix, width);
        Some(Subnet {
            addr: from_bits(bits, addr.is_ipv4()),
            prefix,
        })
    }

    /// The network address (all host bits zero).
    pub fn addr(&self) -> IpAddr {
        self.addr
    }

    /// The prefix length.
    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// Whether this is an IPv4 subnet.
    pub fn is_ipv4(&self) -> bool {
        self.addr.is_ipv4()
    }

    /// Number of bits of host part.
    pub fn host_bits(&self) -> u8 {
        width(&self.addr) - self.prefix
    }

    /// Whether `ip` is inside this subnet (an address of the other family never is).
    pub fn contains(&self, ip: IpAddr) -> bool {
        if ip.is_ipv4() != self.is_ipv4() {
            return false;
        }
        to_bits(ip) & mask(self.prefix, width(&ip)) == to_bits(self.addr)
    }

    /// Whether `other` lies entirely inside this subnet.
    pub fn contains_subnet(&self, other: &Subnet) -> bool {
        self.prefix <= other.prefix && self.contains(other.addr)
    }

    /// Whether the two subnets share at least one address.
    pub fn overlaps(&self, other: &Subnet) -> bool {
        self.contains_subnet(other) || other.contains_subnet(self)
    }

    /// The address at `offset` from the network address, if it is inside the subnet.
    pub fn nth(&self, offset: u128) -> Option<IpAddr> {
        if self.host_bits() < 128 && offset >> self.host_bits() != 0 {
            return None;
        }
        Some(from_bits(to_bits(self.addr) + offset, self.is_ipv4()))
    }

    /// Offset of `ip` from the network address, if it is inside the subnet.
    pub fn offset_of(&self, ip: IpAddr) -> Option<u128> {
        self.contains(ip).then(|| to_bits(ip) - to_bits(self.addr))
    }

    /// The last address of the subnet (the broadcast address for IPv4).
    pub fn last(&self) -> IpAddr {
        let width = width(&self.addr);
        from_bits(
            to_bits(self.addr) | !mask(self.prefix, width) & all_ones(width),
            self.is_ipv4(),
        )
    }

    /// The `index`-th subnet of `prefix` bits inside this one (`None` past the end or when
    /// `prefix` is shorter than this subnet's).
    pub fn child(&self, prefix: u8, index: u128) -> Option<Subnet> {
        if prefix < self.prefix || prefix > width(&self.addr) {
            return None;
        }
        let levels = prefix - self.prefix;
        if levels < 128 && index >> levels != 0 {
            return None;
        }
        let step_bits = width(&self.addr) - prefix;
        let step = if step_bits >= 128 {
            0
        } else {
            index << step_bits
        };
        Subnet::new(from_bits(to_bits(self.addr) + step, self.is_ipv4()), prefix)
    }

    /// Whether `ip` may be given to a container: inside the subnet, not the network address
    /// and, for IPv4 subnets of more than two addresses, not the broadcast address.
    pub fn is_usable_host(&self, ip: IpAddr) -> bool {
        if !self.contains(ip) || ip == self.addr && self.host_bits() > 1 {
            return false;
        }
        !(self.is_ipv4() && self.host_bits() > 1 && ip == self.last())
    }
}

fn width(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() { 32 } else { 128 }
}

fn all_ones(width: u8) -> u128 {
    if width == 128 {
        u128::MAX
    } else {
        (1u128 << width) - 1
    }
}

fn mask(prefix: u8, width: u8) -> u128 {
    if prefix == 0 {
        0
    } else {
        all_ones(width) & !(all_ones(width) >> prefix)
    }
}

fn to_bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(bits: u128, v4: bool) -> IpAddr {
    if v4 {
        // Callers only pass values below 2^32 for IPv4; truncation cannot lose set bits.
        IpAddr::V4(Ipv4Addr::from(bits as u32))
    } else {
        IpAddr::V6(Ipv6Addr::from(bits))
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;

    fn from_str(text: &str) -> Result<Subnet, SubnetError> {
        let syntax = || SubnetError::Syntax(text.to_string());
        let (addr, prefix) = text.trim().split_once('/').ok_or_else(syntax)?;
        let addr: IpAddr = addr.parse().map_err(|_| syntax())?;
        if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
            return Err(syntax());
        }
        let prefix: u32 = prefix.parse().map_err(|_| syntax())?;
        let max = width(&addr);
        if prefix > u32::from(max) {
            return Err(SubnetError::Prefix {
                text: text.to_string(),
                prefix,
                max,
            });
        }
        Subnet::new(addr, prefix as u8).ok_or_else(syntax)
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Subnet, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Subnet {
        text.parse().unwrap()
    }

    #[test]
    fn parses_and_normalizes() {
        assert_eq!(s("10.1.2.3/24").to_string(), "10.1.2.0/24");
        assert_eq!(s("fd00:1::5/64").to_string(), "fd00:1::/64");
        assert_eq!(s("0.0.0.0/0").prefix(), 0);
        assert!(matches!(
            "10.0.0.0/33".parse::<Subnet>(),
            Err(SubnetError::Prefix { .. })
        ));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/",
            "x/8",
            "10.0.0.0/-1",
            "10.0.0.0/+8",
            "::/129",
        ] {
            assert!(bad.parse::<Subnet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn containment_and_overlap() {
        let a = s("10.0.0.0/16");
        assert!(a.contains("10.0.255.255".parse().unwrap()));
        assert!(!a.contains("10.1.0.0".parse().unwrap()));
        assert!(!a.contains("::1".parse().unwrap()));
        assert!(a.overlaps(&s("10.0.3.0/24")));
        assert!(s("10.0.3.0/24").overlaps(&a));
        assert!(!a.overlaps(&s("10.1.0.0/16")));
        assert!(s("0.0.0.0/0").overlaps(&a));
        assert!(!s("::/0").overlaps(&a));
    }

    #[test]
    fn arithmetic() {
        let a = s("192.168.4.0/22");
        assert_eq!(a.nth(1), Some("192.168.4.1".parse().unwrap()));
        assert_eq!(a.nth(1024), None);
        assert_eq!(a.last(), "192.168.7.255".parse::<IpAddr>().unwrap());
        assert_eq!(a.offset_of("192.168.5.0".parse().unwrap()), Some(256));
        assert_eq!(s("172.16.0.0/12").child(16, 1), Some(s("172.17.0.0/16")));
        assert_eq!(s("172.16.0.0/12").child(16, 16), None);
        assert_eq!(s("fd00::/48").child(64, 3), Some(s("fd00:0:0:3::/64")));
        assert_eq!(
            s("::/0").last(),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
                .parse::<IpAddr>()
                .unwrap()
        );
        assert!(a.is_usable_host("192.168.4.1".parse().unwrap()));
        assert!(!a.is_usable_host("192.168.4.0".parse().unwrap()));
        assert!(!a.is_usable_host("192.168.7.255".parse().unwrap()));
        assert!(s("fd00::/64").is_usable_host("fd00::ffff:ffff:ffff:ffff".parse().unwrap()));
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&s("10.9.0.0/24")).unwrap();
        assert_eq!(json, "\"10.9.0.0/24\"");
        assert_eq!(
            serde_json::from_str::<Subnet>(&json).unwrap(),
            s("10.9.0.0/24")
        );
        assert!(serde_json::from_str::<Subnet>("\"nope\"").is_err());
    }
}
