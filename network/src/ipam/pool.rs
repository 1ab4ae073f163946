//! Address pools (Docker's `default-address-pools`) and the choice of a free subnet from them.

use serde::{Deserialize, Serialize};

use crate::subnet::Subnet;

/// A pool that networks without an explicit subnet take their subnet from: consecutive subnets
/// of `size` bits carved out of `base` (Docker's `{"base": "172.17.0.0/16", "size": 16}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPool {
    /// The range the subnets are taken from.
    pub base: Subnet,
    /// Prefix length of each subnet handed out.
    pub size: u8,
}

/// Why a pool cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("address pool {base} with size {size}: {reason}")]
pub struct PoolError {
    /// The pool's base.
    pub base: Subnet,
    /// The pool's size.
    pub size: u8,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl AddressPool {
    /// Checks that the pool can hand out subnets with room for a gateway and a container.
    pub fn validate(&self) -> Result<(), PoolError> {
        let error = |reason| {
            Err(PoolError {
                base: self.base,
                size: self.size,
                reason,
            })
        };
        let width = if self.base.is_ipv4() { 32 } else { 128 };
        if self.size < self.base.prefix() {
            return error("size is shorter than the base prefix");
        }
        if self.size > width - 2 {
            return error("subnets this small leave no room for a gateway and a container");
        }
        Ok(())
    }
}

/// Docker's default IPv4 pools: the /16s of 172.17.0.0-172.31.255.255, then the /20s of
/// 192.168.0.0/16.
pub fn default_pools_v4() -> Vec<AddressPool> {
    vec![
        AddressPool {
            base: subnet("172.17.0.0/16"),
            size: 16,
        },
        AddressPool {
            base: subnet("172.18.0.0/15"),
            size: 16,
        },
        AddressPool {
            base: subnet("172.20.0.0/14"),
            size: 16,
        },
        AddressPool {
            base: subnet("172.24.0.0/13"),
            size: 16,
        },
        AddressPool {
            base: subnet("192.168.0.0/16"),
            size: 20,
        },
    ]
}

/// The default IPv6 pool: /64s of a fixed unique-local /48 (Docker has no default; podman
/// uses random ULAs). Fixed so that addresses stay the same across hosts and restarts.
pub fn default_pools_v6() -> Vec<AddressPool> {
    vec![AddressPool {
        base: subnet("fd6b:6572:7468::/48"),
        size: 64,
    }]
}

fn subnet(text: &str) -> Subnet {
    // Only called on the literals above, which are valid.
    text.parse()
        .unwrap_or_else(|_| unreachable!("invalid built-in pool {text}"))
}

/// The first subnet of the pools (in order) that overlaps none of `taken`, of the pools'
/// family. Runs in O(pools x taken²) whatever the pool sizes: a candidate that hits a taken
/// subnet makes the search jump past that subnet.
pub fn pick_subnet(pools: &[AddressPool], taken: &[Subnet]) -> Option<Subnet> {
    for pool in pools {
        if pool.validate().is_err() {
            continue;
        }
        let mut index: u128 = 0;
        while let Some(candidate) = pool.base.child(pool.size, index) {
            let Some(hit) = taken.iter().find(|t| t.overlaps(&candidate)) else {
                return Some(candidate);
            };
            // Skip every candidate up to the end of the taken subnet (or just this one when
            // the taken subnet is smaller).
            let end = if hit.prefix() < candidate.prefix() {
                hit.last()
            } else {
                candidate.last()
            };
            let Some(offset) = pool.base.offset_of(end) else {
                break;
            };
            let child_bits = u32::from(if pool.base.is_ipv4() { 32 } else { 128 } - pool.size);
            let next = if child_bits >= 128 {
                1
            } else {
                (offset >> child_bits) + 1
            };
            if next <= index {
                break;
            }
            index = next;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Subnet {
        text.parse().unwrap()
    }

    #[test]
    fn first_free_subnet_in_order() {
        let pools = default_pools_v4();
        assert_eq!(pick_subnet(&pools, &[]), Some(s("172.17.0.0/16")));
        assert_eq!(
            pick_subnet(&pools, &[s("172.17.0.0/16")]),
            Some(s("172.18.0.0/16"))
        );
        // A host route inside a candidate rules the candidate out.
        assert_eq!(
            pick_subnet(&pools, &[s("172.17.5.0/24")]),
            Some(s("172.18.0.0/16"))
        );
    }

    #[test]
    fn large_taken_subnet_is_skipped_in_one_step() {
        let pools = [AddressPool {
            base: s("10.0.0.0/8"),
            size: 24,
        }];
        assert_eq!(
            pick_subnet(&pools, &[s("10.0.0.0/9")]),
            Some(s("10.128.0.0/24"))
        );
        assert_eq!(pick_subnet(&pools, &[s("0.0.0.0/1")]), None);
        let huge = [AddressPool {
            base: s("fd00::/8"),
            size: 64,
        }];
        assert_eq!(pick_subnet(&huge, &[s("fd00::/9")]), Some(s("fd80::/64")));
        assert_eq!(pick_subnet(&huge, &[s("fd00::/8")]), None);
    }

    #[test]
    fn falls_through_to_later_pools_and_ignores_other_family() {
        let pools = [
            AddressPool {
                base: s("10.1.0.0/23"),
                size: 24,
            },
            AddressPool {
                base: s("10.2.0.0/16"),
                size: 24,
            },
        ];
        let taken = [s("10.1.0.0/24"), s("10.1.1.0/24"), s("fd00::/8")];
        assert_eq!(pick_subnet(&pools, &taken), Some(s("10.2.0.0/24")));
    }

    #[test]
    fn invalid_pools_are_reported_and_skipped() {
        let bad = AddressPool {
            base: s("10.0.0.0/16"),
            size: 8,
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("10.0.0.0/16")
        );
        assert!(
            AddressPool {
                base: s("10.0.0.0/16"),
                size: 31
            }
            .validate()
            .is_err()
        );
        assert_eq!(pick_subnet(&[bad], &[]), None);
        for p in default_pools_v4().iter().chain(&default_pools_v6()) {
            p.validate().unwrap();
        }
    }
}
