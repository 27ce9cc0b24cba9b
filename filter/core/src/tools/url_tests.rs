use super::*;
use proptest::prelude::*;

fn v4(s: &str) -> Host {
    Host::Ipv4(s.parse().unwrap())
}

#[test]
fn whatwg_forms_reach_the_address_clients_reach() {
    let loopback = v4("127.0.0.1");
    for url in [
        "http://127.0.0.1/",
        "http:127.0.0.1/",
        "http:\\\\127.0.0.1\\",
        "http:/\\/127.0.0.1",
        "HTTP://127.0.0.1",
        "  http://127.0.0.1/  ",
        "http://127.0.\t0.1/",
        "http://1\r27.0.0.1\n/",
        "ht\ttp://127.0.0.1/",
        "http://\u{FF11}\u{FF12}\u{FF17}\u{FF0E}\u{FF10}\u{FF0E}\u{FF10}\u{FF0E}\u{FF11}/",
        "http://127\u{3002}0\u{3002}0\u{3002}1/",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://017700000001/",
        "http://0177.0.0.01/",
        "http://127.1/",
        "http://127.0.0.1./",
        "http://%31%32%37.0.0.1/",
        "http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1/",
        "http://evil.com@127.0.0.1/",
        "http://a:b@c@127.0.0.1:80/",
        "http://127.0.0.1:8080/x",
        "http://127.0.0.1#@evil.com/",
        "http://127.0.0.1?@evil.com/",
        "http://127.0\u{AD}.0.1/",
        "https://127.0.0.1\\@evil.com/",
        "ws://127.0.0.1",
    ] {
        assert_eq!(host_of(url), Ok(loopback.clone()), "{url:?}");
    }
    assert_eq!(
        host_of("http://[::1]/"),
        Ok(Host::Ipv6(Ipv6Addr::LOCALHOST))
    );
    assert_eq!(
        host_of("http://[::ffff:169.254.169.254]/").map(|h| h.ip()),
        Ok(Some("169.254.169.254".parse().unwrap()))
    );
    assert_eq!(
        host_of("http://[fd00:ec2::254]/latest"),
        Ok(Host::Ipv6("fd00:ec2::254".parse().unwrap()))
    );
    assert_eq!(
        host_of("http://METADATA.Google.Internal./"),
        Ok(Host::Domain("metadata.google.internal.".into()))
    );
    assert_eq!(
        host_of("http://exa\u{200B}mple.com/"),
        Ok(Host::Domain("example.com".into()))
    );
    assert_eq!(
        host_of("http://b\u{FC}cher.de/"),
        Ok(Host::Domain("xn--bcher-kva.de".into()))
    );
    // Failures: a caller must treat them as unknown.
    for bad in [
        "http://1.2.3.4.5/",
        "http://256.0.0.1/",
        "http://0x100000000/",
        "http://09.0.0.1/",
        "http://[::1/",
        "http://[1::2::3]/",
        "http://exa mple.com/",
        "http://exa%20mple.com/",
        "http://a\u{202E}b.com/",
        "http://user@/",
        "http:///",
        "http://h:99999/",
        "http://h:8x/",
        "http://%zz/",
    ] {
        assert!(host_of(bad).is_err(), "{bad:?} → {:?}", host_of(bad));
    }
    assert_eq!(host_of("mailto:a@b.c"), Err(UrlError::NoHost));
    assert_eq!(host_of("/relative"), Err(UrlError::NoScheme));
    assert_eq!(host_of("127.0.0.1/x"), Err(UrlError::NoScheme));
    assert_eq!(
        host_of("gopher://127.1:70/"),
        Ok(Host::Opaque("127.1".into()))
    );
    assert_eq!(host_of("file:///etc/passwd"), Ok(Host::Empty));
    assert_eq!(host_of("file://localhost/etc/passwd"), Ok(Host::Empty));
    assert_eq!(host_of("file://10.0.0.1/share"), Ok(v4("10.0.0.1")));
    assert_eq!(
        host_of(&"a".repeat(MAX_URL_BYTES + 1)),
        Err(UrlError::TooLong)
    );
}

#[test]
fn readings_cover_the_rfc3986_clients_too() {
    let r = readings("http://allowed.com\\@127.0.0.1/", false).unwrap();
    assert_eq!(r, vec![Host::Domain("allowed.com".into()), v4("127.0.0.1")]);
    let r = readings("gopher://127.1:70/_x", false).unwrap();
    assert!(r.contains(&v4("127.0.0.1")), "{r:?}");
    assert_eq!(
        readings("10.0.0.5:8080/admin", true).unwrap(),
        vec![v4("10.0.0.5")]
    );
    assert_eq!(
        readings("localhost:8080/x", true).unwrap(),
        vec![Host::Domain("localhost".into())]
    );
    assert!(readings("10.0.0.5:8080/admin", false).is_err());
    assert_eq!(
        readings("https://example.com/a", true).unwrap(),
        vec![Host::Domain("example.com".into())]
    );
}

#[test]
fn punycode_round_trips() {
    for (u, a) in [
        ("bücher", "bcher-kva"),
        ("münchen", "mnchen-3ya"),
        ("例え", "r8jz45g"),
        ("xn", "xn-"),
    ] {
        assert_eq!(idna::encode(u).as_deref(), Some(a), "{u}");
        assert_eq!(
            idna::decode(a).map(|v| v.into_iter().collect::<String>()),
            Some(u.into())
        );
    }
    assert!(idna::decode("!!").is_none());
}

/// What the `url` crate (the oracle) reads as the host: `Ok(None)` for no host.
fn oracle(input: &str) -> Result<Option<Host>, ()> {
    let u = ::url::Url::parse(input).map_err(|_| ())?;
    let special = is_special(u.scheme());
    Ok(match u.host() {
        None => None,
        Some(::url::Host::Domain("")) => None,
        Some(::url::Host::Domain(d)) if special => Some(Host::Domain(d.to_owned())),
        Some(::url::Host::Domain(d)) => Some(Host::Opaque(d.to_owned())),
        Some(::url::Host::Ipv4(a)) => Some(Host::Ipv4(a)),
        Some(::url::Host::Ipv6(a)) => Some(Host::Ipv6(a)),
    })
}

fn ours(input: &str) -> Result<Option<Host>, ()> {
    match parse(input) {
        Ok(p) => Ok(p.host.filter(|h| *h != Host::Empty)),
        Err(_) => Err(()),
    }
}

fn agree(input: &str) -> Result<(), String> {
    let (want, got) = (oracle(input), ours(input));
    let ok = match (&want, &got) {
        (a, b) if a == b => true,
        // Full UTS #46 has tables we do not carry: where the oracle rejects or maps a Unicode
        // (or `xn--`) label differently, ours must still be a punycode domain, never an IP or a
        // plain ASCII name.
        (Err(()), Ok(Some(Host::Domain(d))))
        | (Ok(Some(Host::Domain(_))), Ok(Some(Host::Domain(d))))
            if d.contains("xn--") =>
        {
            true
        }
        (Ok(Some(Host::Domain(o))), Err(())) if o.contains("xn--") => true,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("{input:?}: oracle {want:?}, ours {got:?}"))
    }
}

#[test]
fn oracle_agrees_on_the_listed_cases() {
    for url in [
        "http:127.0.0.1/",
        "http:\\\\127.0.0.1\\",
        "http://127.0.\t0.1/",
        "http://\u{FF11}\u{FF12}\u{FF17}.0.0.1/",
        "http://0x7f.1/",
        "http://[::ffff:1.2.3.4]/",
        "http://[::1.2.3.4]/",
        "http://[1:2:3:4:5:6:7::]/",
        "http://[::]/",
        "http://%31%32%37.0.0.1/",
        "http://a@b@c/",
        "http://B\u{FC}cher.DE/",
        "http://xn--bcher-kva.de/",
        "gopher://127.1/",
        "foo://[::1]/",
        "foo://a b/",
        "file://C:/x",
        "file:\\\\host\\share",
        "http://1.2.3.4.5/",
        "http://1.2.3.09/",
        "http://0x/",
        "http://0x.0x.0/",
        "http://9999999999/",
        "http://4294967295/",
        "http://4294967296/",
        "http://1.2.3.4./",
        "http://1.2.3.4../",
        "http://.1.2.3/",
        "http://a.b.0x/",
        "http://a.1/",
        "http://1.a/",
    ] {
        agree(url).unwrap();
    }
}

fn host_piece() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "0",
        "1",
        "7",
        "9",
        "127",
        "255",
        "256",
        "0x",
        "0X7f",
        "0177",
        "08",
        "00",
        "4294967295",
        "a",
        "E",
        "f",
        "x",
        "z",
        "-",
        "_",
        ".",
        "..",
        "%2e",
        "%31",
        "%41",
        "%zz",
        "%",
        "%00",
        "%ef%bc%91",
        "\u{FF11}",
        "\u{FF10}",
        "\u{FF0E}",
        "\u{3002}",
        "\u{FF61}",
        "\t",
        "\n",
        "\r",
        " ",
        "@",
        ":",
        ":80",
        ":0",
        ":65536",
        "[",
        "]",
        "[::1]",
        "::",
        "\\",
        "/",
        "?",
        "#",
        "^",
        "|",
        "<",
        "\u{AD}",
        "\u{200B}",
        "\u{200D}",
        "\u{202E}",
        "\u{E0041}",
        "\u{FE0F}",
        "\u{2060}",
        "ß",
        "é",
        "É",
        "\u{212A}",
        "\u{2460}",
        "\u{1D7CF}",
        "ǅ",
        "xn--",
        "xn--bcher-kva",
        "localhost",
        "\u{7f}",
        "\u{85}",
        "\u{A0}",
        "\u{3000}",
    ]);
    prop::collection::vec(atoms, 0..8).prop_map(|v| v.concat())
}

fn bare_host() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "0",
        "1",
        "7",
        "9",
        "127",
        "255",
        "256",
        "0x",
        "0X7f",
        "0177",
        "08",
        "00",
        "4294967295",
        "a",
        "E",
        "x",
        "-",
        ".",
        "..",
        "%2e",
        "%31",
        "%zz",
        "%",
        "%ef%bc%91",
        "\u{FF11}",
        "\u{FF0E}",
        "\u{3002}",
        "[::1]",
        "[",
        "]",
        "^",
        "\u{AD}",
        "\u{200B}",
        "\u{202E}",
        "ß",
        "é",
        "\u{212A}",
        "\u{2460}",
        "xn--",
        "xn--bcher-kva",
        "\u{7f}",
        "\u{A0}",
    ]);
    prop::collection::vec(atoms, 1..8).prop_map(|v| v.concat())
}

fn url_like() -> impl Strategy<Value = String> {
    let scheme = prop::sample::select(vec![
        "http", "HTTPS", "ws", "wss", "ftp", "file", "gopher", "foo", "h+t-t.p", "1http",
    ]);
    let sep = prop::sample::select(vec![
        ":", "://", ":/", ":\\\\", ":/\\", ":\\/", "://///", ": //", ":\t//",
    ]);
    let tail = prop::sample::select(vec!["", "/", "/x?y#z", "\\p", "?q", "#f", ":8080/", "@x/"]);
    (scheme, sep, host_piece(), tail).prop_map(|(s, sep, h, t)| format!("{s}{sep}{h}{t}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_url_crate(input in url_like()) {
        if let Err(e) = agree(&input) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn bare_hosts_match_the_url_crate(h in bare_host()) {
        // A bare value read as a host is the special host parser: the same as `http://` + host
        // when the host has no delimiter.
        prop_assume!(h.trim_matches(|c: char| c <= ' ') == h && !h.is_empty());
        let via_url = ours(&format!("http://{h}/"));
        let direct = parse_host(&h).map(Some).map_err(|_| ());
        prop_assert_eq!(via_url, direct, "{:?}", h);
    }

    #[test]
    fn never_panics(s in "\\PC{0,64}") {
        let _ = parse(&s);
        let _ = readings(&s, true);
        let _ = parse_host(&s);
    }
}
