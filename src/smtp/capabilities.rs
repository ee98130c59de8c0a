//! Service extensions announced in the EHLO reply (RFC 5321 §4.1.1.1).

use super::auth::Mechanism;
use super::reply::Reply;

/// What the server offers. `Default` is a server that answered HELO
/// (no extension at all).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The server's name, from the first EHLO line.
    pub server_name: String,
    /// PIPELINING (RFC 2920).
    pub pipelining: bool,
    /// SIZE (RFC 1870): `Some(limit)`, where 0 means no fixed limit.
    pub size: Option<u64>,
    /// 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// SMTPUTF8 (RFC 6531).
    pub smtp_utf8: bool,
    /// STARTTLS (RFC 3207).
    pub starttls: bool,
    /// AUTH mechanisms (RFC 4954), upper-cased, in the server's order.
    pub auth: Vec<String>,
    /// CHUNKING (RFC 3030: BDAT).
    pub chunking: bool,
    /// DSN (RFC 3461).
    pub dsn: bool,
    /// ENHANCEDSTATUSCODES (RFC 2034).
    pub enhanced_status_codes: bool,
    /// Every extension line as received (keyword upper-cased, then parameters).
    pub extensions: Vec<String>,
}

impl Capabilities {
    /// Parses a positive EHLO reply.
    pub fn from_ehlo(reply: &Reply) -> Capabilities {
        let mut caps = Capabilities::default();
        let mut lines = reply.lines().iter();
        if let Some(first) = lines.next() {
            caps.server_name = first.split(' ').next().unwrap_or("").to_string();
        }
        for line in lines {
            let mut words = line.split([' ', '=']).filter(|w| !w.is_empty());
            let Some(keyword) = words.next() else {
                continue;
            };
            let keyword = keyword.to_ascii_uppercase();
            match keyword.as_str() {
                "PIPELINING" => caps.pipelining = true,
                "SIZE" => caps.size = Some(words.next().and_then(|n| n.parse().ok()).unwrap_or(0)),
                "8BITMIME" => caps.eight_bit_mime = true,
                "SMTPUTF8" => caps.smtp_utf8 = true,
                "STARTTLS" => caps.starttls = true,
                "CHUNKING" => caps.chunking = true,
                "DSN" => caps.dsn = true,
                "ENHANCEDSTATUSCODES" => caps.enhanced_status_codes = true,
                "AUTH" => {
                    for m in words {
                        let m = m.to_ascii_uppercase();
                        if !caps.auth.contains(&m) {
                            caps.auth.push(m);
                        }
                    }
                }
                _ => {}
            }
            // The keyword upper-cased (EHLO keywords are case-insensitive,
            // RFC 5321 §2.4), its parameters as received.
            let end = line.find([' ', '=']).unwrap_or(line.len());
            let mut extension = line[..end].to_ascii_uppercase();
            extension.push_str(&line[end..]);
            caps.extensions.push(extension);
        }
        caps
    }

    /// True when the server offers this AUTH mechanism.
    pub fn offers_auth(&self, mechanism: Mechanism) -> bool {
        self.auth.iter().any(|m| m == mechanism.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_extensions() {
        let r = Reply::new(
            250,
            [
                "mx.example.org greets you",
                "PIPELINING",
                "SIZE 35882577",
                "8bitmime",
                "SMTPUTF8",
                "STARTTLS",
                "AUTH LOGIN PLAIN XOAUTH2",
                "AUTH=LOGIN CRAM-MD5",
                "CHUNKING",
                "DSN",
                "ENHANCEDSTATUSCODES",
            ]
            .map(String::from)
            .to_vec(),
        );
        let c = Capabilities::from_ehlo(&r);
        assert_eq!(c.server_name, "mx.example.org");
        assert!(
            c.pipelining && c.eight_bit_mime && c.smtp_utf8 && c.starttls && c.chunking && c.dsn
        );
        assert!(c.enhanced_status_codes);
        assert_eq!(c.size, Some(35882577));
        assert_eq!(c.auth, ["LOGIN", "PLAIN", "XOAUTH2", "CRAM-MD5"]);
        assert!(c.offers_auth(Mechanism::CramMd5));
        let bare = Capabilities::from_ehlo(&Reply::new(250, vec!["x".into(), "SIZE".into()]));
        assert_eq!(bare.size, Some(0));
        assert!(!bare.pipelining && bare.auth.is_empty());
    }

    #[test]
    fn extension_keywords_are_upper_cased_and_parameters_kept() {
        let r = Reply::new(
            250,
            ["mx", "requiretls", "size 1000", "auth=login Plain", "x-Odd"]
                .map(String::from)
                .to_vec(),
        );
        let c = Capabilities::from_ehlo(&r);
        assert_eq!(
            c.extensions,
            ["REQUIRETLS", "SIZE 1000", "AUTH=login Plain", "X-ODD"]
        );
    }
}
