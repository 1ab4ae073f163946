//! Choosing container addresses inside one subnet: fixed addresses are checked, others are the
//! first free address of the allocation range.

use std::collections::HashSet;
use std::net::IpAddr;

use super::SubnetRecord;

/// Why an address cannot be given out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AllocError {
    /// The requested address is outside the network's subnet (or is its network/broadcast
    /// address).
    #[error("address {addr} is not a usable host address of subnet {subnet}")]
    OutsideSubnet {
        /// The address requested.
        addr: IpAddr,
        /// The subnet.
        subnet: String,
    },
    /// The requested address is the gateway or an auxiliary address.
    #[error("address {addr} is reserved in subnet {subnet} ({what})")]
    Reserved {
        /// The address requested.
        addr: IpAddr,
        /// The subnet.
        subnet: String,
        /// `gateway` or `aux address <name>`.
        what: String,
    },
    /// Another container holds the address.
    #[error("address {addr} is already in use by {holder}")]
    InUse {
        /// The address requested.
        addr: IpAddr,
        /// The container that holds it.
        holder: String,
    },
    /// Every address of the range is taken.
    #[error("no free address left in {range}")]
    Exhausted {
        /// The allocation range.
        range: String,
    },
}

/// Why `addr` is reserved in `record` (network address, broadcast, gateway, aux address).
pub fn reserved_reason(record: &SubnetRecord, addr: IpAddr) -> Option<String> {
    if addr == record.gateway {
        return Some("gateway".to_string());
    }
    record
        .aux_addresses
        .iter()
        .find(|(_, a)| **a == addr)
        .map(|(name, _)| format!("aux address {name}"))
}

/// Checks that `addr` may be given to a container in `record`. `holder` names the container
/// that currently holds it, if any other does.
pub fn check_fixed(
    record: &SubnetRecord,
    addr: IpAddr,
    holder: Option<&str>,
) -> Result<(), AllocError> {
    if !record.subnet.is_usable_host(addr) {
        return Err(AllocError::OutsideSubnet {
            addr,
            subnet: record.subnet.to_string(),
        });
    }
    if let Some(what) = reserved_reason(record, addr) {
        return Err(AllocError::Reserved {
            addr,
            subnet: record.subnet.to_string(),
            what,
        });
    }
    if let Some(holder) = holder {
        return Err(AllocError::InUse {
            addr,
            holder: holder.to_string(),
        });
    }
    Ok(())
}

/// The first address of the allocation range (`ip_range`, else the subnet) that is usable,
/// not reserved and not in `used`.
pub fn first_free(record: &SubnetRecord, used: &HashSet<IpAddr>) -> Result<IpAddr, AllocError> {
    let range = record.ip_range.unwrap_or(record.subnet);
    // Every address we skip is in `used`, reserved, or the network/broadcast address, so a
    // free one is found within that many steps, however large the range is.
    let limit = used.len() as u128 + record.aux_addresses.len() as u128 + 4;
    for offset in 0..limit {
        let Some(addr) = range.nth(offset) else { break };
        if record.subnet.is_usable_host(addr)
            && !used.contains(&addr)
            && reserved_reason(record, addr).is_none()
        {
            return Ok(addr);
        }
    }
    Err(AllocError::Exhausted {
        range: range.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn record(subnet: &str, gateway: &str, range: Option<&str>) -> SubnetRecord {
        SubnetRecord {
            subnet: subnet.parse().unwrap(),
            gateway: gateway.parse().unwrap(),
            ip_range: range.map(|r| r.parse().unwrap()),
            aux_addresses: BTreeMap::from([("printer".to_string(), "10.5.0.3".parse().unwrap())]),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn skips_network_gateway_aux_and_used() {
        let r = record("10.5.0.0/24", "10.5.0.1", None);
        let mut used = HashSet::new();
        assert_eq!(first_free(&r, &used), Ok(ip("10.5.0.2")));
        used.insert(ip("10.5.0.2"));
        assert_eq!(first_free(&r, &used), Ok(ip("10.5.0.4")));
    }

    #[test]
    fn honours_ip_range_and_reports_exhaustion() {
        let r = record("10.5.0.0/24", "10.5.0.1", Some("10.5.0.128/30"));
        let mut used = HashSet::new();
        for want in ["10.5.0.128", "10.5.0.129", "10.5.0.130", "10.5.0.131"] {
            let got = first_free(&r, &used).unwrap();
            assert_eq!(got, ip(want));
            used.insert(got);
        }
        let err = first_free(&r, &used).unwrap_err();
        assert_eq!(err.to_string(), "no free address left in 10.5.0.128/30");
        let full = record("10.5.0.0/30", "10.5.0.1", None);
        assert_eq!(first_free(&full, &HashSet::new()), Ok(ip("10.5.0.2")));
        assert!(first_free(&full, &HashSet::from([ip("10.5.0.2")])).is_err());
    }

    #[test]
    fn fixed_addresses_are_checked() {
        let r = record("10.5.0.0/24", "10.5.0.1", None);
        assert_eq!(check_fixed(&r, ip("10.5.0.9"), None), Ok(()));
        assert!(matches!(
            check_fixed(&r, ip("10.6.0.9"), None),
            Err(AllocError::OutsideSubnet { .. })
        ));
        assert!(matches!(
            check_fixed(&r, ip("10.5.0.255"), None),
            Err(AllocError::OutsideSubnet { .. })
        ));
        let gw = check_fixed(&r, ip("10.5.0.1"), None).unwrap_err();
        assert!(gw.to_string().contains("gateway"), "{gw}");
        let aux = check_fixed(&r, ip("10.5.0.3"), None).unwrap_err();
        assert!(aux.to_string().contains("aux address printer"), "{aux}");
        let held = check_fixed(&r, ip("10.5.0.9"), Some("p-web-1")).unwrap_err();
        assert_eq!(
            held.to_string(),
            "address 10.5.0.9 is already in use by p-web-1"
        );
    }

    #[test]
    fn ipv6_allocation() {
        let r = SubnetRecord {
            subnet: "fd00:1::/64".parse().unwrap(),
            gateway: ip("fd00:1::1"),
            ip_range: None,
            aux_addresses: BTreeMap::new(),
        };
        assert_eq!(first_free(&r, &HashSet::new()), Ok(ip("fd00:1::2")));
    }
}
