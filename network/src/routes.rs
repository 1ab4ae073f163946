//! The subnets the host routes, which new networks' subnets must avoid (read with rtnetlink).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use futures::TryStreamExt;
use rtnetlink::Handle;
use rtnetlink::RouteMessageBuilder;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteType,
};

use crate::netlink::{NetlinkError, request};
use crate::subnet::Subnet;

/// Destinations of the unicast routes of the main table (IPv4 and IPv6), default routes
/// excluded: an address pool subnet overlapping one of these would hijack or lose traffic.
pub async fn host_subnets(handle: &Handle) -> Result<Vec<Subnet>, NetlinkError> {
    let mut out = Vec::new();
    let queries = [
        RouteMessageBuilder::<Ipv4Addr>::new().build(),
        RouteMessageBuilder::<Ipv6Addr>::new().build(),
    ];
    for query in queries {
        let mut routes = handle.route().get(query).execute();
        while let Some(route) = routes
            .try_next()
            .await
            .map_err(request("listing the host's routes"))?
        {
            out.extend(route_subnet(&route));
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The destination of a main-table unicast route with a non-zero prefix.
fn route_subnet(route: &RouteMessage) -> Option<Subnet> {
    let table = route
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(route.header.table));
    if table != u32::from(RouteHeader::RT_TABLE_MAIN) || route.header.kind != RouteType::Unicast {
        return None;
    }
    let prefix = route.header.destination_prefix_length;
    if prefix == 0 {
        return None;
    }
    let addr = route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Destination(RouteAddress::Inet(a)) => Some(IpAddr::V4(*a)),
        RouteAttribute::Destination(RouteAddress::Inet6(a)) => Some(IpAddr::V6(*a)),
        _ => None,
    })?;
    Subnet::new(addr, prefix)
}
