//! rtnetlink connections (in the host's or a container's namespace) and the few link, address
//! and route operations the bridge and veth modules are built from.

use std::net::IpAddr;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::{AddressAttribute, AddressFlags};
use rtnetlink::packet_route::link::{LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};

use crate::netns::{Netns, NetnsError};

/// A netlink operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum NetlinkError {
    /// The kernel refused a request.
    #[error("{action}: {source}")]
    Request {
        /// What was being done, naming the interface.
        action: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
    /// The socket could not be opened.
    #[error("opening a netlink socket: {0}")]
    Socket(std::io::Error),
    /// A namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] NetnsError),
    /// A system file (sysctl) could not be written.
    #[error("{action}: {source}")]
    Io {
        /// What was being done.
        action: String,
        /// The cause.
        source: std::io::Error,
    },
    /// An interface that should exist does not.
    #[error("interface {0} does not exist")]
    NoSuchLink(String),
    /// A name the kernel would refuse.
    #[error("invalid interface name {0:?}: 1 to 15 characters, no '/', ':' or whitespace")]
    BadName(String),
}

impl NetlinkError {
    /// The errno the kernel answered with, if this is a refused request.
    pub fn errno(&self) -> Option<i32> {
        match self {
            NetlinkError::Request {
                source: rtnetlink::Error::NetlinkError(msg),
                ..
            } => msg.code.map(|c| -c.get()),
            _ => None,
        }
    }
}

/// Wraps a failed request with what was being done.
pub(crate) fn request(action: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> NetlinkError {
    let action = action.into();
    move |source| NetlinkError::Request { action, source }
}

/// Checks an interface name the way the kernel does (`dev_valid_name`).
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && !name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b == 0)
}

/// A netlink handle in the calling thread's namespace (the host's, for berth), with its
/// connection driven by the current tokio runtime.
pub fn connect() -> Result<Handle, NetlinkError> {
    let (connection, handle, _) = rtnetlink::new_connection().map_err(NetlinkError::Socket)?;
    tokio::spawn(connection);
    Ok(handle)
}

/// A netlink handle whose socket lives in `netns`: the socket is opened on a thread inside
/// the namespace and keeps operating there, whatever thread drives it.
pub fn connect_in(netns: &Netns) -> Result<Handle, NetlinkError> {
    let runtime = tokio::runtime::Handle::current();
    let (connection, handle, _) = netns.run(|| {
        // The socket registers with the runtime's reactor when it is created.
        let _guard = runtime.enter();
        rtnetlink::new_connection()
    })??;
    tokio::spawn(connection);
    Ok(handle)
}

impl From<std::io::Error> for NetlinkError {
    fn from(e: std::io::Error) -> NetlinkError {
        NetlinkError::Socket(e)
    }
}

/// The link called `name`, if it exists.
pub async fn link_by_name(
    handle: &Handle,
    name: &str,
) -> Result<Option<LinkMessage>, NetlinkError> {
    if !valid_ifname(name) {
        return Err(NetlinkError::BadName(name.to_string()));
    }
    let mut links = handle.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(link) => Ok(link),
        // ENODEV: no such device.
        Err(rtnetlink::Error::NetlinkError(msg))
            if msg.code.map(|c| -c.get()) == Some(libc_enodev()) =>
        {
            Ok(None)
        }
        Err(e) => Err(request(format!("looking up interface {name}"))(e)),
    }
}

fn libc_enodev() -> i32 {
    nix::errno::Errno::ENODEV as i32
}

/// The index of `name`, or an error saying it does not exist.
pub async fn link_index(handle: &Handle, name: &str) -> Result<u32, NetlinkError> {
    link_by_name(handle, name)
        .await?
        .map(|l| l.header.index)
        .ok_or_else(|| NetlinkError::NoSuchLink(name.to_string()))
}

/// Every link's name.
pub async fn link_names(handle: &Handle) -> Result<Vec<String>, NetlinkError> {
    let mut links = handle.link().get().execute();
    let mut names = Vec::new();
    while let Some(link) = links
        .try_next()
        .await
        .map_err(request("listing interfaces"))?
    {
        names.extend(link.attributes.iter().find_map(|a| match a {
            LinkAttribute::IfName(n) => Some(n.clone()),
            _ => None,
        }));
    }
    Ok(names)
}

/// Sets the link up.
pub async fn set_up(handle: &Handle, index: u32, what: &str) -> Result<(), NetlinkError> {
    handle
        .link()
        .change(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(request(format!("bringing {what} up")))
}

/// Deletes the link called `name`. Returns whether it existed.
pub async fn delete_link(handle: &Handle, name: &str) -> Result<bool, NetlinkError> {
    let Some(link) = link_by_name(handle, name).await? else {
        return Ok(false);
    };
    match handle.link().del(link.header.index).execute().await {
        Ok(()) => Ok(true),
        // Gone meanwhile (a veth whose peer's namespace died takes it along).
        Err(rtnetlink::Error::NetlinkError(msg))
            if msg.code.map(|c| -c.get()) == Some(libc_enodev()) =>
        {
            Ok(false)
        }
        Err(e) => Err(request(format!("deleting interface {name}"))(e)),
    }
}

/// The addresses on a link.
pub async fn addresses(handle: &Handle, index: u32) -> Result<Vec<(IpAddr, u8)>, NetlinkError> {
    let mut stream = handle
        .address()
        .get()
        .set_link_index_filter(index)
        .execute();
    let mut out = Vec::new();
    while let Some(msg) = stream
        .try_next()
        .await
        .map_err(request(format!("listing addresses of link {index}")))?
    {
        let addr = msg.attributes.iter().find_map(|a| match a {
            AddressAttribute::Local(a) => Some(*a),
            _ => None,
        });
        let addr = addr.or_else(|| {
            msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Address(a) => Some(*a),
                _ => None,
            })
        });
        out.extend(addr.map(|a| (a, msg.header.prefix_len)));
    }
    Ok(out)
}

/// Adds an address (without duplicate address detection for IPv6, so it is usable at once);
/// an address already present is fine.
pub async fn add_address(
    handle: &Handle,
    index: u32,
    addr: IpAddr,
    prefix: u8,
    what: &str,
) -> Result<(), NetlinkError> {
    let mut req = handle.address().add(index, addr, prefix);
    if addr.is_ipv6() {
        req.message_mut()
            .attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    match req.execute().await {
        Ok(()) => Ok(()),
        Err(rtnetlink::Error::NetlinkError(msg))
            if msg.code.map(|c| -c.get()) == Some(nix::errno::Errno::EEXIST as i32) =>
        {
            Ok(())
        }
        Err(e) => Err(request(format!("adding address {addr}/{prefix} to {what}"))(e)),
    }
}

/// Adds the default route via `gateway`.
pub async fn add_default_route(handle: &Handle, gateway: IpAddr) -> Result<(), NetlinkError> {
    let route = match gateway {
        IpAddr::V4(gw) => RouteMessageBuilder::<std::net::Ipv4Addr>::new()
            .gateway(gw)
            .build(),
        IpAddr::V6(gw) => RouteMessageBuilder::<std::net::Ipv6Addr>::new()
            .gateway(gw)
            .build(),
    };
    handle
        .route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(request(format!("adding the default route via {gateway}")))
}

/// Writes a sysctl under /proc/sys (in the calling thread's network namespace for net.*).
pub fn write_sysctl(key: &str, value: &str) -> Result<(), NetlinkError> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    std::fs::write(&path, value).map_err(|source| NetlinkError::Io {
        action: format!("setting {key}={value}"),
        source,
    })
}

/// `net.ipv4.conf.<ifname>.<key>`: interface names may contain dots, which sysctl paths
/// cannot express with dotted keys, so this builds the path directly.
pub fn write_ifsysctl(
    family: &str,
    ifname: &str,
    key: &str,
    value: &str,
) -> Result<(), NetlinkError> {
    let path = format!("/proc/sys/net/{family}/conf/{ifname}/{key}");
    std::fs::write(&path, value).map_err(|source| NetlinkError::Io {
        action: format!("setting net.{family}.conf.{ifname}.{key}={value}"),
        source,
    })
}
