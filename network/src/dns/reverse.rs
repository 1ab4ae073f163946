//! Reverse-lookup names (`4.0.0.10.in-addr.arpa.`, `...ip6.arpa.`) to addresses.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address a PTR query name stands for, if it is a complete reverse name.
pub fn parse_reverse(name: &str) -> Option<IpAddr> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if let Some(labels) = name.strip_suffix(".in-addr.arpa") {
        let parts: Vec<&str> = labels.split('.').collect();
        if parts.len() != 4 {
            return None;
        }
        let mut octets = [0u8; 4];
        for (i, part) in parts.iter().rev().enumerate() {
            if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            octets[i] = part.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if let Some(labels) = name.strip_suffix(".ip6.arpa") {
        let nibbles: Vec<&str> = labels.split('.').collect();
        if nibbles.len() != 32 {
            return None;
        }
        let mut value: u128 = 0;
        for nibble in nibbles.iter().rev() {
            if nibble.len() != 1 {
                return None;
            }
            value = (value << 4) | u128::from(u8::from_str_radix(nibble, 16).ok()?);
        }
        return Some(IpAddr::V6(Ipv6Addr::from(value)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_families() {
        assert_eq!(
            parse_reverse("4.0.0.10.in-addr.arpa."),
            Some("10.0.0.4".parse().unwrap())
        );
        assert_eq!(
            parse_reverse("4.0.0.10.IN-ADDR.ARPA"),
            Some("10.0.0.4".parse().unwrap())
        );
        let v6 = "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa.";
        assert_eq!(
            parse_reverse(v6),
            Some("4321:0:1:2:3:4:567:89ab".parse().unwrap())
        );
        for bad in [
            "0.10.in-addr.arpa",
            "256.0.0.10.in-addr.arpa",
            "a.0.0.10.in-addr.arpa",
            "1.ip6.arpa",
            "example.com",
            "..0.10.in-addr.arpa",
        ] {
            assert_eq!(parse_reverse(bad), None, "{bad}");
        }
    }
}
