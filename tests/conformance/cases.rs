//! The conformance cases. Each is named after what it checks; the zone of
//! each starts from [`base_zone`] and adds what the case needs.
//!
//! Every resolv.conf here has `options timeout:1 attempts:1` (unless the
//! case is about those options), so a silent server costs a second a try.

use std::net::IpAddr;

use tokio_endpoints::hickory_resolver::proto::rr::rdata::svcb::{
    IpHint, SvcParamKey, SvcParamValue, SVCB,
};
use tokio_endpoints::hickory_resolver::proto::rr::rdata::{A, HTTPS};
use tokio_endpoints::hickory_resolver::proto::rr::{Name, RData, RecordType};

use super::dns::{Behaviour, Zone};
use super::{Case, Expect, Step};

/// One name server on 127.0.0.1, small timeouts, no search list.
const PLAIN: &str = "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";
/// `search corp.example`, `ndots:1`.
const CORP: &str =
    "nameserver 127.0.0.1\nsearch corp.example\noptions ndots:1 timeout:1 attempts:1\n";
/// Kubernetes' pod resolv.conf.
const K8S: &str = "nameserver 127.0.0.1\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:1\n";
/// A hosts file with localhost only.
const HOSTS: &str = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n";

/// The records most cases share.
fn base_zone() -> Zone {
    Zone::new()
        .addr("host.example.com", "192.0.2.10")
        .addr("host.example.com", "2001:db8::10")
        .addr("v4only.example.com", "192.0.2.11")
        .addr("v6only.example.com", "2001:db8::12")
        .addr("x.sub.example.com", "192.0.2.13")
        .cname("www.example.com", "host.example.com")
        .cname("a.example.com", "b.example.org")
        .cname("b.example.org", "c.example.net")
        .addr("c.example.net", "198.51.100.3")
        .cname("dangle.example.com", "gone.example.org")
        .addr("app.corp.example", "10.0.0.5")
        .addr("db.corp.example", "10.0.0.6")
        .addr("web.ns1.svc.cluster.local", "10.96.0.11")
        .addr("web.ns2.svc.cluster.local", "10.96.0.12")
        .addr("external.example.net", "203.0.113.7")
        .addr("cdn.example.net", "198.51.100.80")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("an IP address")
}

/// A case with the usual defaults: one server on 127.0.0.1, the base
/// zone, the localhost-only hosts file, and `Expect::Agree`.
fn case(name: &'static str, resolv_conf: &str, steps: Vec<Step>) -> Case {
    Case {
        name,
        resolv_conf: resolv_conf.to_string(),
        hosts: HOSTS.to_string(),
        zone: base_zone(),
        servers: vec![ip("127.0.0.1")],
        mute: Vec::new(),
        steps,
        expect: Expect::Agree,
        never_asked: Vec::new(),
    }
}

impl Case {
    fn zone(mut self, f: impl FnOnce(Zone) -> Zone) -> Case {
        self.zone = f(self.zone);
        self
    }

    fn hosts(mut self, hosts: &str) -> Case {
        self.hosts = hosts.to_string();
        self
    }

    fn servers(mut self, up: &[&str], mute: &[&str]) -> Case {
        self.servers = up.iter().map(|s| ip(s)).collect();
        self.mute = mute.iter().map(|s| ip(s)).collect();
        self
    }

    fn differ(mut self, why: &'static str) -> Case {
        self.expect = Expect::Differ { why };
        self
    }

    fn never_asked(mut self, names: &[&'static str]) -> Case {
        self.never_asked = names.to_vec();
        self
    }
}

fn resolve(host: &'static str) -> Vec<Step> {
    vec![Step::Resolve(host)]
}

fn service(host: &'static str, reference: &'static str) -> Vec<Step> {
    vec![Step::Service { host, reference }]
}

/// An HTTPS record: priority, target, an IPv4 hint or none.
fn https(priority: u16, target: &str, hint: Option<&str>) -> RData {
    let mut params = Vec::new();
    if let Some(hint) = hint {
        params.push((
            SvcParamKey::Ipv4Hint,
            SvcParamValue::Ipv4Hint(IpHint(vec![A(hint.parse().expect("an IPv4 address"))])),
        ));
    }
    RData::HTTPS(HTTPS(SVCB::new(
        priority,
        Name::from_ascii(target).expect("a valid name"),
        params,
    )))
}

/// Every A and AAAA query of `name` gets `how`.
fn both(zone: Zone, name: &str, how: Behaviour) -> Zone {
    zone.behave(name, Some(RecordType::A), how.clone())
        .behave(name, Some(RecordType::AAAA), how)
}

/// All the cases, in the order they are listed.
pub fn all() -> Vec<Case> {
    let mut cases = Vec::new();
    cases.extend(plain());
    cases.extend(options());
    cases.extend(search());
    cases.extend(hosts());
    cases.extend(kubernetes());
    cases.extend(services());
    cases
}

/// No search list: answers, negative answers and failures.
fn plain() -> Vec<Case> {
    vec![
        case("plain_dual_stack_name", PLAIN, resolve("host.example.com")),
        case(
            "plain_a_only_aaaa_nodata",
            PLAIN,
            resolve("v4only.example.com"),
        ),
        case(
            "plain_aaaa_only_a_nodata",
            PLAIN,
            resolve("v6only.example.com"),
        ),
        case(
            "plain_nxdomain_is_not_found",
            PLAIN,
            resolve("nope.example.com"),
        ),
        case(
            "plain_nodata_both_families_is_not_found",
            PLAIN,
            resolve("sub.example.com"),
        ),
        case(
            "plain_servfail_is_temporary",
            PLAIN,
            resolve("sf.example.com"),
        )
        .zone(|z| z.behave("sf.example.com", None, Behaviour::ServFail)),
        case("plain_refused", PLAIN, resolve("refused.example.com"))
            .zone(|z| z.behave("refused.example.com", None, Behaviour::Refused)),
        case(
            "plain_silent_is_temporary",
            PLAIN,
            resolve("silent.example.com"),
        )
        .zone(|z| z.behave("silent.example.com", None, Behaviour::Silent)),
        case(
            "plain_aaaa_servfail_a_answers",
            PLAIN,
            resolve("host.example.com"),
        )
        .zone(|z| {
            z.behave(
                "host.example.com",
                Some(RecordType::AAAA),
                Behaviour::ServFail,
            )
        }),
        case(
            "plain_aaaa_silent_a_answers",
            PLAIN,
            resolve("host.example.com"),
        )
        .zone(|z| {
            z.behave(
                "host.example.com",
                Some(RecordType::AAAA),
                Behaviour::Silent,
            )
        }),
        case(
            "plain_aaaa_nodata_forced_a_answers",
            PLAIN,
            resolve("host.example.com"),
        )
        .zone(|z| {
            z.behave(
                "host.example.com",
                Some(RecordType::AAAA),
                Behaviour::NoData,
            )
        }),
        case(
            "plain_aaaa_nxdomain_a_answers",
            PLAIN,
            resolve("host.example.com"),
        )
        .zone(|z| {
            z.behave(
                "host.example.com",
                Some(RecordType::AAAA),
                Behaviour::NxDomain,
            )
        }),
        case("plain_mixed_case_name", PLAIN, resolve("HoSt.ExAmPlE.CoM")),
        case(
            "plain_absolute_name_with_trailing_dot",
            PLAIN,
            resolve("host.example.com."),
        ),
        case("cname_to_same_domain", PLAIN, resolve("www.example.com")),
        case(
            "cname_chain_across_domains",
            PLAIN,
            resolve("a.example.com"),
        ),
        case(
            "cname_to_nxdomain_is_not_found",
            PLAIN,
            resolve("dangle.example.com"),
        ),
    ]
}

/// resolv.conf options and name server choice.
fn options() -> Vec<Case> {
    let many = |z: Zone| {
        (1..=60).fold(z, |z, i| {
            z.addr("big.example.com", &format!("192.0.2.{}", 100 + i))
        })
    };
    vec![
        case(
            "option_truncated_udp_answer_retried_over_tcp",
            PLAIN,
            resolve("tc.example.com"),
        )
        .zone(|z| {
            both(z, "tc.example.com", Behaviour::Truncate)
                .addr("tc.example.com", "192.0.2.40")
                .addr("tc.example.com", "2001:db8::40")
        }),
        case(
            "option_answer_over_512_bytes_without_edns0",
            PLAIN,
            resolve("big.example.com"),
        )
        .zone(many),
        case(
            "option_edns0_answer_over_512_bytes",
            "nameserver 127.0.0.1\noptions edns0 timeout:1 attempts:1\n",
            resolve("big.example.com"),
        )
        .zone(many),
        case(
            "option_use_vc",
            "nameserver 127.0.0.1\noptions use-vc timeout:1 attempts:1\n",
            resolve("host.example.com"),
        ),
        case(
            "option_single_request",
            "nameserver 127.0.0.1\noptions single-request timeout:1 attempts:1\n",
            resolve("host.example.com"),
        ),
        case(
            "option_single_request_reopen",
            "nameserver 127.0.0.1\noptions single-request-reopen timeout:1 attempts:1\n",
            resolve("host.example.com"),
        ),
        case(
            "option_rotate_two_servers",
            "nameserver 127.0.0.1\nnameserver 127.0.0.2\noptions rotate timeout:1 attempts:1\n",
            vec![
                Step::Resolve("host.example.com"),
                Step::Resolve("v4only.example.com"),
            ],
        )
        .servers(&["127.0.0.1", "127.0.0.2"], &[]),
        case(
            "option_attempts2_first_query_unanswered",
            "nameserver 127.0.0.1\noptions timeout:1 attempts:2\n",
            resolve("host.example.com"),
        )
        .zone(|z| both(z, "host.example.com", Behaviour::SilentFirst(1))),
        case(
            "option_timeout1_silent_for_a_while_then_answers",
            "nameserver 127.0.0.1\noptions timeout:1 attempts:3\n",
            resolve("host.example.com"),
        )
        .zone(|z| {
            both(
                z,
                "host.example.com",
                Behaviour::SilentFor(std::time::Duration::from_millis(500)),
            )
        }),
        case(
            "server_silent_first_second_answers",
            "nameserver 127.0.0.2\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            resolve("host.example.com"),
        )
        .servers(&["127.0.0.1"], &["127.0.0.2"]),
        case(
            "server_down_first_second_answers",
            "nameserver 127.0.0.3\nnameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
            resolve("host.example.com"),
        ),
        case(
            "server_all_silent_is_temporary",
            "nameserver 127.0.0.2\noptions timeout:1 attempts:1\n",
            resolve("host.example.com"),
        )
        .servers(&[], &["127.0.0.2"]),
    ]
}

/// `search corp.example` with `ndots:1`.
fn search() -> Vec<Case> {
    let wildcard = |z: Zone| {
        z.addr("*.corp.example", "10.9.9.9")
            .addr("*.corp.example", "2001:db8:9::9")
    };
    vec![
        case("search_single_label_completed", CORP, resolve("app")),
        case(
            "search_name_with_ndots_dots_tried_as_is_first",
            CORP,
            resolve("svc.lab"),
        )
        .zone(|z| {
            z.addr("svc.lab", "192.0.2.20")
                .addr("svc.lab.corp.example", "10.0.0.20")
        }),
        case(
            "search_dotted_name_falls_back_to_search_list",
            CORP,
            resolve("db.team"),
        )
        .zone(|z| z.addr("db.team.corp.example", "10.0.0.21")),
        case(
            "search_all_candidates_nxdomain_is_not_found",
            CORP,
            resolve("nothere"),
        ),
        case(
            "search_wildcard_catches_relative_dotted_name",
            CORP,
            resolve("nohost.example.com"),
        )
        .zone(wildcard),
        case(
            "search_absolute_name_with_trailing_dot_is_not_searched",
            CORP,
            resolve("nohost.example.com."),
        )
        .zone(wildcard)
        .never_asked(&["nohost.example.com.corp.example"]),
        case(
            "search_wildcard_aaaa_not_added_to_name_with_a_only",
            CORP,
            resolve("v4only.example.com"),
        )
        .zone(wildcard),
        case(
            "search_absolute_name_with_a_only_and_trailing_dot",
            CORP,
            resolve("v4only.example.com."),
        )
        .zone(wildcard)
        .never_asked(&["v4only.example.com.corp.example"]),
        case(
            "search_candidate_is_cname_to_other_domain",
            CORP,
            resolve("www"),
        )
        .zone(|z| z.cname("www.corp.example", "host.example.com")),
        case(
            "search_absolute_existing_name_with_trailing_dot",
            CORP,
            resolve("host.example.com."),
        )
        .zone(wildcard)
        .never_asked(&["host.example.com.corp.example"]),
        case(
            "search_single_label_with_trailing_dot_is_not_searched",
            CORP,
            resolve("app."),
        )
        .never_asked(&["app.corp.example"]),
        case(
            "search_servfail_candidate_then_bare_name_answers",
            CORP,
            resolve("app2"),
        )
        .zone(|z| {
            z.behave("app2.corp.example", None, Behaviour::ServFail)
                .addr("app2", "192.0.2.30")
        }),
        case(
            "search_nodata_candidate_then_bare_name_answers",
            CORP,
            resolve("app5"),
        )
        .zone(|z| {
            z.addr("x.app5.corp.example", "10.0.0.50")
                .addr("app5", "192.0.2.50")
        }),
        case("search_candidate_with_aaaa_only", CORP, resolve("app6"))
            .zone(|z| z.addr("app6.corp.example", "2001:db8::6")),
        case(
            "search_silent_candidate_then_server_recovers",
            CORP,
            vec![Step::Resolve("app3"), Step::Recover, Step::Resolve("app3")],
        )
        .zone(|z| {
            both(z, "app3.corp.example", Behaviour::Silent).addr("app3.corp.example", "10.0.0.7")
        }),
        case(
            "search_candidate_unanswered_once_with_attempts2",
            "nameserver 127.0.0.1\nsearch corp.example\noptions ndots:1 timeout:1 attempts:2\n",
            vec![Step::Resolve("app4"), Step::Resolve("app4")],
        )
        .zone(|z| {
            both(z, "app4.corp.example", Behaviour::SilentFirst(1))
                .addr("app4.corp.example", "10.0.0.8")
        }),
        case(
            "search_refused_candidate_then_bare_name_answers",
            CORP,
            resolve("app7"),
        )
        .zone(|z| {
            z.behave("app7.corp.example", None, Behaviour::Refused)
                .addr("app7", "192.0.2.31")
        }),
    ]
}

/// /etc/hosts, with and without a search list; localhost (RFC 6761).
fn hosts() -> Vec<Case> {
    let lan = "127.0.0.1 localhost\n::1 localhost\n\
               # 192.0.2.99 commented.lan\n\
               192.0.2.51 primary.lan alias1 alias2\n\
               192.0.2.52 dual.lan\n2001:db8::52 dual.lan\n\
               192.0.2.53 real.lan # notreal.lan\n\
               192.0.2.54 host.example.com\n";
    vec![
        case("hosts_name_without_search", PLAIN, resolve("primary.lan")).hosts(lan),
        case("hosts_name_with_search_list", CORP, resolve("primary.lan")).hosts(lan),
        case(
            "hosts_single_label_with_search_list",
            CORP,
            resolve("alias1"),
        )
        .hosts(lan),
        case("hosts_alias", PLAIN, resolve("alias2")).hosts(lan),
        case("hosts_mixed_case", PLAIN, resolve("PrImArY.LaN")).hosts(lan),
        case("hosts_ipv4_and_ipv6_entries", PLAIN, resolve("dual.lan")).hosts(lan),
        case(
            "hosts_comments_ignored",
            PLAIN,
            vec![
                Step::Resolve("real.lan"),
                Step::Resolve("commented.lan"),
                Step::Resolve("notreal.lan"),
            ],
        )
        .hosts(lan),
        case(
            "hosts_entry_shadows_dns",
            PLAIN,
            resolve("host.example.com"),
        )
        .hosts(lan),
        case(
            "hosts_name_with_trailing_dot",
            PLAIN,
            resolve("primary.lan."),
        )
        .hosts(lan)
        .differ(
            "glibc 2.36's files backend compares the name as written, trailing dot \
             included, so `primary.lan.` misses /etc/hosts and goes to DNS; we match \
             hosts entries without the trailing dot, as for DNS names",
        ),
        case(
            "hosts_kubernetes_myhost_and_alias",
            K8S,
            vec![Step::Resolve("myhost"), Step::Resolve("myalias")],
        )
        .hosts("127.0.0.1 localhost\n::1 localhost\n127.0.0.10 myhost myalias\n"),
        case("localhost_from_hosts", PLAIN, resolve("localhost")),
        case("localhost_with_search_list", CORP, resolve("localhost")),
        case("localhost_not_in_hosts", PLAIN, resolve("localhost"))
            .hosts("# empty\n")
            .differ(
                "RFC 6761 §6.3: we answer `localhost` with loopback ourselves; \
                 glibc without a hosts entry asks DNS",
            ),
        case(
            "localhost_subdomain_rfc6761",
            PLAIN,
            resolve("foo.localhost"),
        )
        .differ(
            "RFC 6761 §6.3: we answer names under `localhost.` with loopback; \
             glibc asks DNS for them",
        ),
    ]
}

/// Kubernetes' `ndots:5` search list.
fn kubernetes() -> Vec<Case> {
    vec![
        case("k8s_service_short_name", K8S, resolve("web")),
        case("k8s_service_in_other_namespace", K8S, resolve("web.ns2")),
        case(
            "k8s_external_name_after_search_list",
            K8S,
            resolve("external.example.net"),
        ),
        case(
            "k8s_external_name_with_trailing_dot",
            K8S,
            resolve("external.example.net."),
        )
        .never_asked(&[
            "external.example.net.ns1.svc.cluster.local",
            "external.example.net.svc.cluster.local",
            "external.example.net.cluster.local",
        ]),
        case(
            "k8s_service_fqdn_without_dot",
            K8S,
            resolve("web.ns1.svc.cluster.local"),
        ),
        case(
            "k8s_name_with_exactly_ndots_dots_tried_as_is_first",
            K8S,
            resolve("a.b.c.d.e.f"),
        )
        .zone(|z| {
            z.addr("a.b.c.d.e.f", "192.0.2.60")
                .addr("a.b.c.d.e.f.ns1.svc.cluster.local", "10.96.0.60")
        }),
        case(
            "k8s_name_with_fewer_dots_searched_first",
            K8S,
            resolve("b.c.d.e.f"),
        )
        .zone(|z| {
            z.addr("b.c.d.e.f", "192.0.2.61")
                .addr("b.c.d.e.f.ns1.svc.cluster.local", "10.96.0.61")
        }),
        case(
            "k8s_servfail_on_first_candidate_then_server_recovers",
            K8S,
            vec![Step::Resolve("web"), Step::Recover, Step::Resolve("web")],
        )
        .zone(|z| z.behave("web.ns1.svc.cluster.local", None, Behaviour::ServFail)),
    ]
}

/// HTTPS records (type 65): the addresses a connection would use, against
/// getaddrinfo of the name the records send it to.
fn services() -> Vec<Case> {
    let wildcard = |z: Zone| {
        z.addr("*.corp.example", "10.9.9.9")
            .addr("*.corp.example", "2001:db8:9::9")
    };
    vec![
        case(
            "https_service_mode_target_with_search_wildcard",
            CORP,
            service("svc.example.com", "cdn.example.net."),
        )
        .zone(|z| {
            wildcard(z)
                .addr("svc.example.com", "192.0.2.80")
                .record("svc.example.com", https(1, "cdn.example.net.", None))
        })
        .never_asked(&["cdn.example.net.corp.example"]),
        case(
            "https_alias_mode_target_with_search_wildcard",
            CORP,
            service("alias.example.com", "cdn.example.net."),
        )
        .zone(|z| {
            wildcard(z)
                .addr("alias.example.com", "192.0.2.81")
                .record("alias.example.com", https(0, "cdn.example.net.", None))
                .record("cdn.example.net", https(1, ".", None))
        })
        .never_asked(&["cdn.example.net.corp.example"]),
        case(
            "https_host_without_records_not_searched_for_records",
            CORP,
            service("plain.example.com", "plain.example.com."),
        )
        .zone(|z| {
            wildcard(z)
                .record("*.corp.example", https(1, "wild.example.org.", None))
                .addr("wild.example.org", "203.0.113.99")
                .addr("plain.example.com", "192.0.2.83")
                .addr("plain.example.com", "2001:db8::83")
        })
        .never_asked(&["plain.example.com.corp.example"]),
        case(
            "https_host_with_trailing_dot_not_searched_for_records",
            CORP,
            service("plain.example.com.", "plain.example.com."),
        )
        .zone(|z| {
            wildcard(z)
                .record("*.corp.example", https(1, "wild.example.org.", None))
                .addr("wild.example.org", "203.0.113.99")
                .addr("plain.example.com", "192.0.2.83")
                .addr("plain.example.com", "2001:db8::83")
        })
        .never_asked(&["plain.example.com.corp.example"]),
        case(
            "https_service_mode_target_without_search",
            PLAIN,
            service("svc.example.com", "cdn.example.net."),
        )
        .zone(|z| {
            z.addr("svc.example.com", "192.0.2.80")
                .record("svc.example.com", https(1, "cdn.example.net.", None))
        }),
        case(
            "https_service_mode_for_the_host_itself",
            CORP,
            service("self.example.com", "self.example.com."),
        )
        .zone(|z| {
            wildcard(z)
                .addr("self.example.com", "192.0.2.82")
                .record("self.example.com", https(1, ".", Some("192.0.2.82")))
        }),
        case(
            "https_no_records_uses_host_addresses",
            CORP,
            service("host.example.com", "host.example.com."),
        ),
        case(
            "https_servfail_uses_host_addresses",
            PLAIN,
            service("host.example.com", "host.example.com."),
        )
        .zone(|z| {
            z.behave(
                "host.example.com",
                Some(RecordType::HTTPS),
                Behaviour::ServFail,
            )
        }),
    ]
}
