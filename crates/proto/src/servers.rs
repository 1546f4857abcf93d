//! Where a device meets its party: one control server, or several serving the same parties
//! (tried in order, the next when one is lost). The same text is a setting, a `--server`
//! option and an invite link's `server=`: addresses separated by spaces or commas.

/// More would only lengthen the time before a client says none answers.
pub const MAX_SERVERS: usize = 4;

/// The addresses in `text`, in order, each `ws://HOST:PORT` or `wss://HOST:PORT` (a path is
/// allowed); empty text is no server. Duplicates are dropped.
pub fn parse_servers(text: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for url in text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
    {
        check_url(url)?;
        if !out.iter().any(|u| u == url) {
            out.push(url.to_owned());
        }
    }
    if out.len() > MAX_SERVERS {
        return Err(format!(
            "at most {MAX_SERVERS} control servers (got {})",
            out.len()
        ));
    }
    Ok(out)
}

/// The list as one text, the form the setting and links keep.
pub fn join_servers<S: AsRef<str>>(urls: &[S]) -> String {
    urls.iter()
        .map(|u| u.as_ref())
        .collect::<Vec<_>>()
        .join(" ")
}

fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("ws://")
        .or_else(|| url.strip_prefix("wss://"))
        .ok_or_else(|| {
            format!("`{url}` must start with ws:// or wss:// (or be empty for no server)")
        })?;
    let authority = rest.split('/').next().unwrap_or(rest);
    check_host_port(authority)
}

/// `HOST:PORT`, where HOST is a name or an IP address (IPv6 in brackets) and PORT is 1-65535.
pub fn check_host_port(s: &str) -> Result<(), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| format!("must be HOST:PORT (got `{s}`)"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:".contains(c))
    {
        return Err(format!("`{host}` is not a host name or IP address"));
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(()),
        _ => Err(format!("`{port}` is not a port from 1 to 65535")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_or_several_addresses_in_order() {
        assert_eq!(parse_servers("").unwrap(), Vec::<String>::new());
        assert_eq!(
            parse_servers("ws://a.example:8667").unwrap(),
            ["ws://a.example:8667"]
        );
        assert_eq!(
            parse_servers(
                " wss://a:443/, ws://[2001:db8::1]:8667  ws://10.0.0.2:8667,ws://a.example:1"
            )
            .unwrap(),
            [
                "wss://a:443/",
                "ws://[2001:db8::1]:8667",
                "ws://10.0.0.2:8667",
                "ws://a.example:1"
            ]
        );
        assert_eq!(
            join_servers(&parse_servers("ws://a:1,ws://b:2, ws://a:1").unwrap()),
            "ws://a:1 ws://b:2"
        );
    }

    #[test]
    fn a_bad_address_is_named() {
        for (bad, says) in [
            ("http://a:1", "`http://a:1` must start with ws://"),
            ("ws://a:1 ws://b", "HOST:PORT"),
            ("ws://a:0", "not a port"),
            ("ws://a b:1", "HOST:PORT"),
            ("ws://a_b:1", "not a host name"),
            ("ws://a:1 ws://b:1 ws://c:1 ws://d:1 ws://e:1", "at most 4"),
        ] {
            let err = parse_servers(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
