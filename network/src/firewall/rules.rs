//! The nftables ruleset berth installs, as data (pure: no `nft` is run here).
//!
//! One `inet` table holds fixed chains and rules that refer only to named sets and maps.
//! Networks and published ports are *elements* of those sets and maps, so adding or removing
//! one is an atomic element change that never touches rules, never needs rule handles, and
//! cannot disturb another project's entries:
//!
//! ```text
//! set bridges, internal : ifname            every berth bridge / the internal ones
//! set same_bridge : ifname . ifname         "br . br" for every bridge
//! set nat_v4, nat_v6 : interval             subnets of networks with outside access
//! map {tcp,udp}{4,6}_addr, _port       : port -> container addr, container port
//!                                        (published on every host address)
//! map {tcp,udp}{4,6}_ip_addr, _ip_port : host addr . port -> container addr, container port
//!                                        (published on one host address)
//!
//! forward (filter):  established/related -> accept; same bridge -> accept;
//!                    from/to internal -> drop; to a bridge, DNATed (published port) -> accept;
//!                    bridge to another bridge -> drop; to a bridge otherwise -> drop
//! prerouting/output (dnat): DNS to a gateway, or to [::1] (the userland proxy's) -> no
//!                    DNAT; addr.port maps, then port maps on local destinations
//! postrouting (snat): nat subnets leaving by a non-bridge -> masquerade;
//!                    loopback sources into a bridge (127.0.0.1 published ports, needs
//!                    route_localnet) -> masquerade; hairpin DNAT from a bridge -> masquerade
//! ```
//!
//! Container address and port live in two maps rather than one map to `addr . port`: nft
//! 1.0.6 (Debian 12) crashes parsing JSON maps with concatenated data.

use std::borrow::Cow;
use std::collections::HashSet;

use nftables::expr::{
    self, Expression, Fib, FibFlag, FibResult, Meta, MetaKey, NamedExpression, Payload,
    PayloadField,
};
use nftables::schema::{
    Chain, NfCmd, NfListObject, NfObject, Nftables, Rule, Set, SetFlag, SetType, SetTypeValue,
    Table,
};
use nftables::stmt::{Match, NAT, NATFamily, Operator, Statement};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};

/// The default table name.
pub const DEFAULT_TABLE: &str = "berth";

const PORT_MAPS: [(&str, bool); 4] = [("tcp", true), ("udp", true), ("tcp", false), ("udp", false)];

pub(super) fn string(s: impl Into<Cow<'static, str>>) -> Expression<'static> {
    Expression::String(s.into())
}

pub(super) fn set_ref(name: &str) -> Expression<'static> {
    string(format!("@{name}"))
}

pub(super) fn concat(items: Vec<Expression<'static>>) -> Expression<'static> {
    Expression::Named(NamedExpression::Concat(items))
}

pub(super) fn meta(key: MetaKey) -> Expression<'static> {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

pub(super) fn payload(protocol: &'static str, field: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::Payload(Payload::PayloadField(
        PayloadField {
            protocol: protocol.into(),
            field: field.into(),
        },
    )))
}

pub(super) fn ct(key: &'static str) -> Expression<'static> {
    Expression::Named(NamedExpression::CT(expr::CT {
        key: key.into(),
        family: None,
        dir: None,
    }))
}

pub(super) fn matches(
    left: Expression<'static>,
    op: Operator,
    right: Expression<'static>,
) -> Statement<'static> {
    Statement::Match(Match { left, right, op })
}

pub(super) fn is(left: Expression<'static>, right: Expression<'static>) -> Statement<'static> {
    matches(left, Operator::EQ, right)
}

pub(super) fn local_destination() -> Statement<'static> {
    let flags = HashSet::from([FibFlag::Daddr]);
    is(
        Expression::Named(NamedExpression::Fib(Fib {
            result: FibResult::Type,
            flags,
        })),
        string("local"),
    )
}

pub(super) fn nfproto(v4: bool) -> Statement<'static> {
    is(
        meta(MetaKey::Nfproto),
        string(if v4 { "ipv4" } else { "ipv6" }),
    )
}

pub(super) fn masquerade() -> Statement<'static> {
    Statement::Masquerade(None)
}

pub(super) fn add(object: NfListObject<'static>) -> NfObject<'static> {
    NfObject::CmdObject(NfCmd::Add(object))
}

pub(super) fn delete(object: NfListObject<'static>) -> NfObject<'static> {
    NfObject::CmdObject(NfCmd::Delete(object))
}

/// Wraps commands into an nftables document.
pub fn document(objects: Vec<NfObject<'static>>) -> Nftables<'static> {
    Nftables {
        objects: objects.into(),
    }
}

/// Commands creating the table with its sets, maps, chains and rules.
pub fn base_ruleset(table: &str) -> Vec<NfObject<'static>> {
    let table: Cow<'static, str> = table.to_string().into();
    let family = NfFamily::INet;
    let mut out = vec![add(NfListObject::Table(Table {
        family,
        name: table.clone(),
        handle: None,
    }))];

    let set = |name: &str, kind: SetTypeValue<'static>, interval: bool| {
        add(NfListObject::Set(Box::new(Set {
            family,
            table: table.clone(),
            name: name.to_string().into(),
            set_type: kind,
            flags: interval.then(|| HashSet::from([SetFlag::Interval])),
            ..Set::default()
        })))
    };
    out.push(set("bridges", SetTypeValue::Single(SetType::Ifname), false));
    out.push(set(
        "internal",
        SetTypeValue::Single(SetType::Ifname),
        false,
    ));
    out.push(set(
        "same_bridge",
        SetTypeValue::Concatenated(vec![SetType::Ifname, SetType::Ifname].into()),
        false,
    ));
    out.push(set("nat_v4", SetTypeValue::Single(SetType::Ipv4Addr), true));
    out.push(set("nat_v6", SetTypeValue::Single(SetType::Ipv6Addr), true));
    for (proto, v4) in PORT_MAPS {
        let addr = if v4 {
            SetType::Ipv4Addr
        } else {
            SetType::Ipv6Addr
        };
        for specific in [false, true] {
            let key = if specific {
                SetTypeValue::Concatenated(vec![addr, SetType::InetService].into())
            } else {
                SetTypeValue::Single(SetType::InetService)
            };
            let stem = format!(
                "{proto}{}{}",
                if v4 { "4" } else { "6" },
                if specific { "_ip" } else { "" }
            );
            for (suffix, data) in [("addr", addr), ("port", SetType::InetService)] {
                out.push(add(NfListObject::Map(Box::new(nftables::schema::Map {
                    family,
                    table: table.clone(),
                    name: format!("{stem}_{suffix}").into(),
                    set_type: key.clone(),
                    map: SetTypeValue::Single(data),
                    ..nftables::schema::Map::default()
                }))));
            }
        }
    }

    let chain = |name: &'static str, kind: NfChainType, hook: NfHook, prio: i32| {
        add(NfListObject::Chain(Chain {
            family,
            table: table.clone(),
            name: name.into(),
            _type: Some(kind),
            hook: Some(hook),
            prio: Some(prio),
            policy: Some(NfChainPolicy::Accept),
            ..Chain::default()
        }))
    };
    out.push(chain("forward", NfChainType::Filter, NfHook::Forward, 0));
    out.push(chain(
        "prerouting",
        NfChainType::NAT,
        NfHook::Prerouting,
        -100,
    ));
    out.push(chain("output", NfChainType::NAT, NfHook::Output, -100));
    out.push(chain(
        "postrouting",
        NfChainType::NAT,
        NfHook::Postrouting,
        100,
    ));

    let rule = |chain: &'static str, expr: Vec<Statement<'static>>| {
        add(NfListObject::Rule(Rule {
            family,
            table: table.clone(),
            chain: chain.into(),
            expr: expr.into(),
            ..Rule::default()
        }))
    };
    let iif = || meta(MetaKey::Iifname);
    let oif = || meta(MetaKey::Oifname);
    let accept = || Statement::Accept(None);
    let drop = || Statement::Drop(None);

    // Packets of accepted connections first: they are nearly all the forwarded packets, and
    // this way each passes one rule instead of up to seven (with their set lookups). No
    // decision changes: a connection only becomes established once its first packet went
    // through the rules below (a dropped first packet leaves no conntrack entry).
    out.push(rule(
        "forward",
        vec![
            matches(
                ct("state"),
                Operator::IN,
                Expression::List(vec![string("established"), string("related")]),
            ),
            accept(),
        ],
    ));
    out.push(rule(
        "forward",
        vec![
            is(concat(vec![iif(), oif()]), set_ref("same_bridge")),
            accept(),
        ],
    ));
    out.push(rule(
        "forward",
        vec![is(iif(), set_ref("internal")), drop()],
    ));
    out.push(rule(
        "forward",
        vec![is(oif(), set_ref("internal")), drop()],
    ));
    out.push(rule(
        "forward",
        vec![
            is(oif(), set_ref("bridges")),
            matches(ct("status"), Operator::IN, string("dnat")),
            accept(),
        ],
    ));
    out.push(rule(
        "forward",
        vec![
            is(iif(), set_ref("bridges")),
            is(oif(), set_ref("bridges")),
            drop(),
        ],
    ));
    out.push(rule("forward", vec![is(oif(), set_ref("bridges")), drop()]));

    for chain in ["prerouting", "output"] {
        if chain == "prerouting" {
            // Containers' DNS queries to their gateway must reach berth's server even when
            // port 53 is published.
            out.push(rule(
                chain,
                vec![
                    is(iif(), set_ref("bridges")),
                    is(payload("th", "dport"), Expression::Number(53)),
                    local_destination(),
                    Statement::Return(None),
                ],
            ));
        } else {
            // `[::1]` never leaves the loopback device, so a DNAT of it to a container is a
            // dead end: the port's own socket answers it instead (`crate::proxy`).
            out.push(rule(
                chain,
                vec![
                    nfproto(false),
                    is(payload("ip6", "daddr"), string("::1")),
                    Statement::Return(None),
                ],
            ));
        }
        for (proto, v4) in PORT_MAPS {
            let (ip, nat_family) = if v4 {
                ("ip", NATFamily::IP)
            } else {
                ("ip6", NATFamily::IP6)
            };
            let suffix = if v4 { "4" } else { "6" };
            let dnat = |key: Expression<'static>, stem: String| {
                let lookup = |suffix: &str| {
                    Expression::Named(NamedExpression::Map(Box::new(expr::Map {
                        key: key.clone(),
                        data: set_ref(&format!("{stem}_{suffix}")),
                    })))
                };
                Statement::DNAT(Some(NAT {
                    addr: Some(lookup("addr")),
                    family: Some(nat_family),
                    port: Some(lookup("port")),
                    flags: None,
                }))
            };
            out.push(rule(
                chain,
                vec![
                    nfproto(v4),
                    dnat(
                        concat(vec![payload(ip, "daddr"), payload(proto, "dport")]),
                        format!("{proto}{suffix}_ip"),
                    ),
                ],
            ));
            out.push(rule(
                chain,
                vec![
                    nfproto(v4),
                    local_destination(),
                    dnat(payload(proto, "dport"), format!("{proto}{suffix}")),
                ],
            ));
        }
    }

    out.push(rule(
        "postrouting",
        vec![
            nfproto(true),
            is(payload("ip", "saddr"), set_ref("nat_v4")),
            matches(oif(), Operator::NEQ, set_ref("bridges")),
            masquerade(),
        ],
    ));
    out.push(rule(
        "postrouting",
        vec![
            nfproto(false),
            is(payload("ip6", "saddr"), set_ref("nat_v6")),
            matches(oif(), Operator::NEQ, set_ref("bridges")),
            masquerade(),
        ],
    ));
    let loopback = Expression::Named(NamedExpression::Prefix(expr::Prefix {
        addr: Box::new(string("127.0.0.0")),
        len: 8,
    }));
    out.push(rule(
        "postrouting",
        vec![
            is(oif(), set_ref("bridges")),
            nfproto(true),
            is(payload("ip", "saddr"), loopback),
            masquerade(),
        ],
    ));
    out.push(rule(
        "postrouting",
        vec![
            is(oif(), set_ref("bridges")),
            matches(ct("status"), Operator::IN, string("dnat")),
            is(iif(), set_ref("bridges")),
            masquerade(),
        ],
    ));
    out
}

#[cfg(test)]
mod tests;
