//! Entry points for the fuzz targets in `fuzz/` (cargo-fuzz builds with
//! `--cfg fuzzing`; nothing here exists otherwise). Each takes arbitrary
//! input through the code a user's input reaches and checks what must
//! hold of any input: no panic, and the invariants noted.

use std::net::IpAddr;

use crate::{IntoTarget, Target};

/// A target string, as `ConnectionBuilder::new` and `(host, port)` take
/// it: parsed, and what it reads back is consistent.
pub fn target(s: &str) {
    check(s.into_target());
    for port in [0, 443] {
        check((s, port).into_target());
    }
}

fn check(t: Result<Target, crate::TargetError>) {
    let Ok(t) = t else { return };
    match t.host() {
        Some(host) => {
            assert!(crate::shared::target::check_host(host).is_ok(), "{host:?}");
            assert!(!host.ends_with('.'), "{host:?}");
            assert!(!host.bytes().any(|b| b.is_ascii_uppercase()), "{host:?}");
            assert!(
                host.parse::<IpAddr>().is_err(),
                "a literal kept as a name: {host:?}"
            );
            // What it prints parses back to the same target.
            let again = t.to_string().into_target().expect("Display parses back");
            assert_eq!(again, t);
        }
        None => assert!(!t.addrs().is_empty()),
    }
}

/// resolv.conf contents, then a name looked up under them: the search
/// candidates and the hosts-table check.
#[cfg(feature = "hickory")]
pub fn resolv_conf(text: &[u8], name: &str) {
    use crate::resolve::Conf;
    let Ok((config, options)) = hickory_resolver::system_conf::parse_resolv_conf(text) else {
        return;
    };
    let conf = Conf::new(config, options, Some(hickory_resolver::Hosts::default()));
    let candidates = conf.candidates(name);
    assert!(!candidates.is_empty());
    assert!(
        candidates.iter().all(|c| c.ends_with('.')),
        "{candidates:?}"
    );
    if name.ends_with('.') {
        assert_eq!(candidates, [name], "an absolute name was searched");
    }
    let _ = conf.pinned(name, crate::Family::Any);
    let _ = conf.servers();
}

/// hosts-file contents, then a name looked up in them.
#[cfg(feature = "hickory")]
pub fn hosts(text: &[u8], name: &str) {
    use crate::resolve::Conf;
    let mut hosts = hickory_resolver::Hosts::default();
    if hosts.read_hosts_conf(text).is_err() {
        return;
    }
    let conf = Conf::new(
        hickory_resolver::config::ResolverConfig::default(),
        hickory_resolver::config::ResolverOpts::default(),
        Some(hosts),
    );
    for family in [crate::Family::Any, crate::Family::V4, crate::Family::V6] {
        if let Some(ips) = conf.pinned(name, family) {
            assert!(ips.iter().all(|ip| family.matches(ip)));
        }
    }
}

/// A URI given to the `Connector` (its tower `Service`), with an address
/// policy that allows nothing: every call ends before any socket is
/// opened, with an error or not at all, never a panic.
#[cfg(feature = "hyper")]
pub fn uri(s: &str) {
    use std::sync::OnceLock;
    use tower_service::Service;
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let Ok(uri) = s.parse::<http::Uri>() else {
        return;
    };
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    });
    let mut connector = crate::Connector::new()
        .address_policy(crate::AddressPolicy::allow_only([]))
        .resolver(crate::Resolver::fixed([(
            "fuzz.test",
            [IpAddr::from([192, 0, 2, 1])],
        )]));
    let result = runtime.block_on(connector.call(uri));
    assert!(
        result.is_err(),
        "connected with a policy that allows nothing"
    );
}

/// A PROXY protocol header (v1 text or v2 binary) as the server's parser
/// reads it, and every accessor of what it parsed.
#[cfg(feature = "proxy-protocol")]
pub fn proxy_header(bytes: &[u8]) {
    use crate::ProxyHeader;
    for parsed in [
        ProxyHeader::parse_v1(bytes.to_vec()),
        ProxyHeader::parse_v2(bytes.to_vec()),
    ] {
        let Ok(header) = parsed else { continue };
        let _ = (header.version(), header.is_local());
        let _ = (header.source(), header.destination());
        let _ = (header.unix_source(), header.unix_destination());
        let _ = header.tlvs().count();
        let _ = (header.authority(), header.alpn(), header.tlv(0x01));
        let _ = format!("{header:?}");
    }
}
