//! NAT, isolation between networks, internal networks and published ports, with nftables.
//!
//! [`rules`] builds the ruleset and [`elements`] the set/map elements for networks and ports,
//! as data; [`Firewall`] applies them through the `nft` binary
//! (JSON, via the `nftables` crate). Every change is one atomic `nft` transaction, made while
//! holding a lock file so that concurrent berth processes do not race creating the table.

pub mod elements;
pub mod rules;

use std::io;
use std::path::PathBuf;

use nftables::helper::{self, NftablesError};
use serde_json::Value;

pub use elements::{FirewallNetwork, PortMapping, Protocol, SetElement};
pub use rules::DEFAULT_TABLE;

use crate::state;

/// A firewall operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum FirewallError {
    /// `nft` could not be run at all.
    #[error("cannot run nft while {action}: {source} (is the nftables package installed?)")]
    Spawn {
        /// What berth was doing.
        action: String,
        /// The cause.
        source: io::Error,
    },
    /// `nft` refused the change.
    #[error("nft failed while {action}: {stderr}")]
    Nft {
        /// What berth was doing.
        action: String,
        /// nft's message.
        stderr: String,
    },
    /// The lock file could not be taken.
    #[error("firewall lock {path}: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A published port that cannot be expressed.
    #[error("cannot publish {mapping}: {reason}")]
    Mapping {
        /// The mapping, as text.
        mapping: String,
        /// Why.
        reason: String,
    },
}

/// berth's nftables table.
#[derive(Clone, Debug)]
pub struct Firewall {
    table: String,
    lock_path: PathBuf,
}

impl Firewall {
    /// The firewall using table `inet <table>` ([`DEFAULT_TABLE`] for berth itself; tests use
    /// their own), serialized by the lock file `lock_path` (under berth's run directory).
    pub fn new(table: impl Into<String>, lock_path: impl Into<PathBuf>) -> Firewall {
        Firewall {
            table: table.into(),
            lock_path: lock_path.into(),
        }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Puts a network under the rules: isolation, and NAT unless it is internal. Idempotent.
    pub fn add_network(&self, network: &FirewallNetwork) -> Result<(), FirewallError> {
        let _lock = self.lock()?;
        self.ensure_table()?;
        let elements = elements::network_elements(network);
        self.apply(
            elements::element_commands(&self.table, &elements, true),
            &format!("adding bridge {}", network.bridge),
        )
    }

    /// Takes a network out of the rules; removes the table once nothing is left in it.
    /// Elements already gone are not errors. Every failure is returned, after trying the rest.
    pub fn remove_network(&self, network: &FirewallNetwork) -> Vec<FirewallError> {
        let elements = elements::network_elements(network);
        let errors =
            self.remove_elements(&elements, &format!("removing bridge {}", network.bridge));
        // What matters is that nothing of the network is left: a failure to delete what is
        // already gone (some nft versions fail such a delete without a word) is no failure.
        if !errors.is_empty() && matches!(self.mentions(&network.bridge), Ok(false)) {
            return Vec::new();
        }
        errors
    }

    /// Publishes ports (DNAT from the host to containers).
    pub fn publish(&self, mappings: &[PortMapping]) -> Result<(), FirewallError> {
        for m in mappings {
            m.check().map_err(|reason| FirewallError::Mapping {
                mapping: describe(m),
                reason,
            })?;
        }
        let _lock = self.lock()?;
        self.ensure_table()?;
        let elements: Vec<SetElement> = mappings.iter().flat_map(elements::port_elements).collect();
        let what: Vec<String> = mappings.iter().map(describe).collect();
        self.apply(
            elements::element_commands(&self.table, &elements, true),
            &format!("publishing {}", what.join(", ")),
        )
    }

    /// Withdraws published ports; like [`Firewall::remove_network`], keeps going on errors.
    pub fn unpublish(&self, mappings: &[PortMapping]) -> Vec<FirewallError> {
        let elements: Vec<SetElement> = mappings.iter().flat_map(elements::port_elements).collect();
        let what: Vec<String> = mappings.iter().map(describe).collect();
        self.remove_elements(&elements, &format!("unpublishing {}", what.join(", ")))
    }

    /// The table as `nft -j list table` prints it, or `None` when it does not exist.
    pub fn list(&self) -> Result<Option<Value>, FirewallError> {
        let action = format!("listing table inet {}", self.table);
        let args = ["list", "table", "inet", self.table.as_str()];
        match helper::get_current_ruleset_raw(helper::DEFAULT_NFT, args) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| FirewallError::Nft {
                    action,
                    stderr: e.to_string(),
                }),
            Err(NftablesError::NftFailed { stderr, .. })
                if stderr.contains("No such file or directory") =>
            {
                Ok(None)
            }
            Err(e) => Err(nft_error(action, e)),
        }
    }

    /// Whether any element of the table mentions `needle` (a bridge name or an address), for
    /// checks that nothing of a removed network is left.
    pub fn mentions(&self, needle: &str) -> Result<bool, FirewallError> {
        let Some(table) = self.list()? else {
            return Ok(false);
        };
        let mut found = false;
        for object in table["nftables"].as_array().into_iter().flatten() {
            for kind in ["set", "map"] {
                if let Some(elems) = object.get(kind).and_then(|s| s.get("elem")) {
                    found |= contains_string(elems, needle);
                }
            }
        }
        Ok(found)
    }

    /// The nft command that deletes berth's table.
    fn delete_table_command(&self) -> nftables::schema::NfObject<'static> {
        let table = nftables::schema::Table {
            family: nftables::types::NfFamily::INet,
            name: self.table.clone().into(),
            handle: None,
        };
        nftables::schema::NfObject::CmdObject(nftables::schema::NfCmd::Delete(
            nftables::schema::NfListObject::Table(table),
        ))
    }

    /// Deletes the whole table (every network and port of this firewall). Used to start over
    /// and by tests; berth itself removes networks one by one.
    pub fn delete_table(&self) -> Result<(), FirewallError> {
        let _lock = self.lock()?;
        if self.list()?.is_none() {
            return Ok(());
        }
        let command = self.delete_table_command();
        self.apply(
            vec![command],
            &format!("deleting table inet {}", self.table),
        )
    }

    fn remove_elements(&self, elements: &[SetElement], action: &str) -> Vec<FirewallError> {
        let mut errors = Vec::new();
        let _lock = match self.lock() {
            Ok(lock) => lock,
            Err(e) => return vec![e],
        };
        match self.list() {
            Ok(None) => return errors,
            Ok(Some(_)) => {}
            Err(e) => return vec![e],
        }
        // One transaction when everything is there; element by element otherwise, so that one
        // missing element does not keep the others in place.
        let all = elements::element_commands(&self.table, elements, false);
        if self.apply(all, action).is_err() {
            for element in elements {
                let one =
                    elements::element_commands(&self.table, std::slice::from_ref(element), false);
                match self.apply(one, action) {
                    Ok(()) => {}
                    // Already gone (nft words it either way, by version).
                    Err(FirewallError::Nft { stderr, .. })
                        if stderr.contains("No such file or directory")
                            || stderr.contains("element does not exist") => {}
                    Err(e) => errors.push(e),
                }
            }
        }
        if let Err(e) = self.delete_table_if_empty() {
            errors.push(e);
        }
        errors
    }

    fn delete_table_if_empty(&self) -> Result<(), FirewallError> {
        let Some(table) = self.list()? else {
            return Ok(());
        };
        let busy = table["nftables"].as_array().into_iter().flatten().any(|o| {
            ["set", "map"].iter().any(|k| {
                o.get(k)
                    .and_then(|s| s.get("elem"))
                    .is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty()))
            })
        });
        if busy {
            return Ok(());
        }
        let command = self.delete_table_command();
        self.apply(
            vec![command],
            &format!("deleting the empty table inet {}", self.table),
        )
    }

    fn ensure_table(&self) -> Result<(), FirewallError> {
        if let Some(table) = self.list()? {
            let has_chain = table["nftables"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|o| o.get("chain").is_some_and(|c| c["name"] == "postrouting"));
            if has_chain {
                return Ok(());
            }
        }
        self.apply(
            rules::base_ruleset(&self.table),
            &format!("creating table inet {}", self.table),
        )
    }

    fn apply(
        &self,
        commands: Vec<nftables::schema::NfObject<'static>>,
        action: &str,
    ) -> Result<(), FirewallError> {
        if commands.is_empty() {
            return Ok(());
        }
        let document = rules::document(commands);
        let json = serde_json::to_string(&document).map_err(|e| FirewallError::Nft {
            action: action.to_string(),
            stderr: e.to_string(),
        })?;
        helper::apply_ruleset_raw(&json, helper::DEFAULT_NFT, helper::DEFAULT_ARGS)
            .map(|_| ())
            .map_err(|e| nft_error(action.to_string(), e))
    }

    fn lock(&self) -> Result<state::LockGuard, FirewallError> {
        state::lock_exclusive(&self.lock_path).map_err(|source| FirewallError::Lock {
            path: self.lock_path.clone(),
            source,
        })
    }
}

fn contains_string(value: &Value, needle: &str) -> bool {
    match value {
        Value::String(s) => s == needle,
        Value::Array(items) => items.iter().any(|v| contains_string(v, needle)),
        Value::Object(map) => map.values().any(|v| contains_string(v, needle)),
        _ => false,
    }
}

fn nft_error(action: String, error: NftablesError) -> FirewallError {
    match error {
        NftablesError::NftExecution { inner, .. } => FirewallError::Spawn {
            action,
            source: inner,
        },
        NftablesError::NftFailed { stderr, stdout, .. } => {
            let stderr = if stderr.trim().is_empty() {
                stdout
            } else {
                stderr
            };
            FirewallError::Nft {
                action,
                stderr: stderr.trim().to_string(),
            }
        }
        other => FirewallError::Nft {
            action,
            stderr: other.to_string(),
        },
    }
}

/// `127.0.0.1:8080->10.0.0.2:80/tcp`.
pub fn describe(m: &PortMapping) -> String {
    let host = match m.host_ip {
        Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]:{}", m.host_port),
        Some(ip) => format!("{ip}:{}", m.host_port),
        None => format!("*:{}", m.host_port),
    };
    let container = match m.container_ip {
        std::net::IpAddr::V6(ip) => format!("[{ip}]:{}", m.container_port),
        ip => format!("{ip}:{}", m.container_port),
    };
    format!("{host}->{container}/{}", m.protocol)
}
