//! Connection options, mirroring emailjs's `SMTPConnectionOptions`, and the
//! `smtp://` / `smtps://` URL form.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::error::NativeError;
use crate::smtp::{Credentials, Mechanism, TlsPolicy, TranscriptLine};

/// A transcript/log hook: called with every line the client sends or
/// receives (without CRLF). AUTH secrets are redacted by the engine before
/// the hook sees them; message content is not shown.
pub type Logger = Arc<dyn Fn(&TranscriptLine) + Send + Sync>;

/// How to reach and talk to an SMTP server.
///
/// ```
/// use mimeograph::native::Options;
/// let o = Options::from_url("smtp://ann:secret@mail.example.com:587")?;
/// assert_eq!(o.host, "mail.example.com");
/// assert_eq!(o.effective_port(), 587);
/// assert_eq!(o.user.as_deref(), Some("ann"));
/// let o = Options::from_url("smtps://mail.example.com")?;
/// assert!(o.ssl);
/// assert_eq!(o.effective_port(), 465);
/// # Ok::<(), mimeograph::native::NativeError>(())
/// ```
#[derive(Clone)]
pub struct Options {
    /// The server's host name or IP address (also the TLS server name, sent
    /// as SNI when it is a name).
    pub host: String,
    /// The port; `None` picks 465 with [`Options::ssl`], 587 with STARTTLS
    /// required, else 25 (see [`Options::effective_port`]).
    pub port: Option<u16>,
    /// Implicit TLS: TLS from the first byte (emailjs's `ssl`, port 465).
    pub ssl: bool,
    /// STARTTLS policy on a plain connection (emailjs's `tls`): upgrade when
    /// offered ([`TlsPolicy::Opportunistic`], the default), always
    /// ([`TlsPolicy::Required`]: fail if the server does not offer it) or
    /// never. Ignored with [`Options::ssl`].
    pub tls: TlsPolicy,
    /// The user name for AUTH. A user needs a password or an
    /// [`Options::xoauth2`] token, and a password a user: half a login is
    /// an invalid option (the npm package, as emailjs, skips AUTH then).
    pub user: Option<String>,
    /// The password for AUTH.
    pub password: Option<String>,
    /// An OAuth 2.0 access token for AUTH XOAUTH2 (with [`Options::user`]);
    /// takes precedence over the password.
    pub xoauth2: Option<String>,
    /// AUTH mechanisms in order of preference (emailjs's `authentication`).
    pub authentication: Vec<Mechanism>,
    /// Allow AUTH on an unencrypted connection (off by default).
    pub allow_insecure_auth: bool,
    /// Send a message only if the server accepts every recipient (as
    /// emailjs, lettre and the npm package do): when some are refused, the
    /// message fails with [`crate::smtp::SmtpError::RecipientsRejected`] and
    /// goes to no one. With more than one recipient this waits for the RCPT
    /// replies before the data (one more round trip); with one it costs
    /// nothing. Off by default: the message goes to the recipients the
    /// server accepted, and [`super::SentMessage::recipients`] says which
    /// were refused.
    pub require_all_recipients: bool,
    /// One timeout for connecting (the host name lookup and every address
    /// tried, together), the TLS handshake, every write and every
    /// reply. A reply must be complete within it from the moment it is
    /// awaited: octets trickling in do not extend it (see
    /// [`crate::smtp::Config::timeout`]). Also the longest a stream
    /// attachment may give no bytes while its message is sent
    /// ([`crate::smtp::SmtpError::BodyTimeout`]; see
    /// [`crate::mime::Attachment::reader`]). At most a year is waited
    /// (`Duration::MAX` waits a year).
    pub timeout: Duration,
    /// The EHLO domain; `None` uses this machine's host name (as emailjs),
    /// or `localhost` when it cannot be read.
    pub domain: Option<String>,
    /// Extra trusted root certificates (DER), added to the webpki roots.
    /// Use [`Options::add_root_certificate`].
    pub root_certificates: Vec<Vec<u8>>,
    /// DANGER: accept any server certificate (expired, self-signed, for
    /// another name). The connection is encrypted but not authenticated:
    /// anyone on the path can read and change the mail and steal the
    /// password. For tests against throwaway servers only.
    pub danger_accept_invalid_certs: bool,
    /// Greylisting: when MAIL or RCPT gets 450/451 and no recipient was
    /// accepted, wait this long and try the message once more. `None`
    /// disables the retry. Default 300 ms (emailjs's `GREYLIST_DELAY`).
    pub greylist_retry: Option<Duration>,
    /// When the connection drops before the end of a message's data was
    /// sent, reconnect and send it once more (default true). A message is
    /// never resent once its end of data was sent: if the link dies then,
    /// before the reply, nobody can know whether the server accepted it
    /// (RFC 1047), and the send fails with
    /// [`NativeError::OutcomeUnknown`] for the caller to decide. The same
    /// once-more applies to a `421` answering the `MAIL` of a reused
    /// connection (the server closing it as idle just as the message
    /// came: nothing of it was accepted). Independently of this option, a
    /// message queued on a reused connection that fails before the
    /// message's transaction began (its `RSET` refused, say) is offered on
    /// a new connection. Neither retry applies to a message with an
    /// [`Attachment::reader`](crate::mime::Attachment::reader) that an
    /// attempt already took (a reader is read once): its first error is
    /// returned.
    pub reconnect_retry: bool,
    /// The transcript/log hook.
    pub logger: Option<Logger>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            host: "localhost".into(),
            port: None,
            ssl: false,
            tls: TlsPolicy::Opportunistic,
            user: None,
            password: None,
            xoauth2: None,
            authentication: Mechanism::DEFAULT_PREFERENCE.to_vec(),
            allow_insecure_auth: false,
            require_all_recipients: false,
            timeout: Duration::from_secs(30),
            domain: None,
            root_certificates: Vec::new(),
            danger_accept_invalid_certs: false,
            greylist_retry: Some(Duration::from_millis(300)),
            reconnect_retry: true,
            logger: None,
        }
    }
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Options")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("ssl", &self.ssl)
            .field("tls", &self.tls)
            .field("user", &self.user)
            .field("password", &redacted(&self.password))
            .field("xoauth2", &redacted(&self.xoauth2))
            .field("authentication", &self.authentication)
            .field("allow_insecure_auth", &self.allow_insecure_auth)
            .field("require_all_recipients", &self.require_all_recipients)
            .field("timeout", &self.timeout)
            .field("domain", &self.domain)
            .field("root_certificates", &self.root_certificates.len())
            .field(
                "danger_accept_invalid_certs",
                &self.danger_accept_invalid_certs,
            )
            .field("greylist_retry", &self.greylist_retry)
            .field("reconnect_retry", &self.reconnect_retry)
            .field("logger", &self.logger.is_some())
            .finish()
    }
}

impl Options {
    /// Options for `host` with the defaults (port 25, STARTTLS when offered).
    pub fn new(host: impl Into<String>) -> Options {
        Options {
            host: host.into(),
            ..Options::default()
        }
    }

    /// Parses `smtp://[user[:password]@]host[:port]` (STARTTLS when offered;
    /// port 25) or `smtps://…` (implicit TLS; port 465). User and password
    /// are percent-decoded; an IPv6 host is written in brackets.
    pub fn from_url(url: &str) -> Result<Options, NativeError> {
        let bad = |why: &str| NativeError::InvalidOptions(format!("bad SMTP URL: {why}"));
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme"))?;
        let mut o = Options::default();
        match scheme.to_ascii_lowercase().as_str() {
            "smtp" => {}
            "smtps" => o.ssl = true,
            _ => return Err(bad("the scheme must be smtp or smtps")),
        }
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if let Some(userinfo) = userinfo {
            let (user, password) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            o.user = Some(percent_decode(user).ok_or_else(|| bad("bad user name"))?);
            o.password = password
                .map(|p| percent_decode(p).ok_or_else(|| bad("bad password")))
                .transpose()?;
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            match after {
                "" => (h, None),
                p => (h, Some(p.strip_prefix(':').ok_or_else(|| bad("bad port"))?)),
            }
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() || host.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(bad("bad or missing host"));
        }
        o.host = host.to_string();
        if let Some(p) = port {
            o.port = Some(p.parse().map_err(|_| bad("bad port"))?);
        }
        Ok(o)
    }

    /// Checks the options before a connection is opened (the clients call
    /// it first): the host and the EHLO `domain` (not empty, no spaces or
    /// control characters), the port (not 0), the timeout (more than
    /// zero), and the credentials (see [`NativeError::InvalidOptions`];
    /// the message names the field and never shows a secret).
    pub fn validate(&self) -> Result<(), NativeError> {
        let bad =
            |field: &str, why: &str| Err(NativeError::InvalidOptions(format!("{field}: {why}")));
        let name_ok =
            |s: &str| !s.is_empty() && s.len() <= 255 && s.bytes().all(|b| b > b' ' && b != 0x7f);
        if !name_ok(&self.host) {
            return bad(
                "host",
                "must be a host name or an IP address: not empty, at most 255 octets, no spaces or control characters",
            );
        }
        if self.port == Some(0) {
            return bad("port", "0 is not a port");
        }
        if let Some(domain) = &self.domain {
            if !name_ok(domain) {
                return bad(
                    "domain",
                    "the EHLO name must not be empty or hold spaces or control characters",
                );
            }
        }
        if self.timeout.is_zero() {
            return bad("timeout", "must be more than zero");
        }
        // Half a login is a mistake, not an empty secret to send (the npm
        // package, as emailjs, skips AUTH then; here it is said at once).
        if self.xoauth2.is_none() {
            match (&self.user, &self.password) {
                (Some(_), None) => {
                    return bad("password", "a user needs a password (or an xoauth2 token)")
                }
                (None, Some(_)) => return bad("user", "a password needs a user"),
                (Some(_), Some(p)) if p.is_empty() => {
                    return bad(
                        "password",
                        "is empty (leave user and password unset for no AUTH)",
                    )
                }
                _ => {}
            }
        }
        let (credentials, mechanisms) = self.credentials();
        if let Some(c) = credentials {
            if let Err(crate::smtp::SmtpError::InvalidCredentials { field, reason }) = c.check() {
                let field = match (field, &self.xoauth2) {
                    ("user", _) => "user",
                    (_, Some(_)) => "xoauth2",
                    _ => "password",
                };
                return bad(field, reason);
            }
            if mechanisms.is_empty() {
                return bad(
                    "authentication",
                    "names no mechanism that can use these credentials",
                );
            }
        }
        Ok(())
    }

    /// The port to connect to: [`Options::port`], else 465 with implicit
    /// TLS, 587 with STARTTLS required, else 25.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(if self.ssl {
            465
        } else if self.tls == TlsPolicy::Required {
            587
        } else {
            25
        })
    }

    /// Trusts a root certificate, given as PEM (one or more
    /// `BEGIN CERTIFICATE` blocks) or DER.
    pub fn add_root_certificate(&mut self, cert: &[u8]) -> Result<(), NativeError> {
        self.root_certificates
            .extend(super::tls::parse_certificates(cert)?);
        Ok(())
    }

    /// Sets the logger (builder style).
    pub fn with_logger(mut self, f: impl Fn(&TranscriptLine) + Send + Sync + 'static) -> Options {
        self.logger = Some(Arc::new(f));
        self
    }

    /// The credentials the engine uses, and the mechanisms to try.
    pub(crate) fn credentials(&self) -> (Option<Credentials>, Vec<Mechanism>) {
        let user = self.user.clone().unwrap_or_default();
        if let Some(token) = &self.xoauth2 {
            let mut mechs = self.authentication.clone();
            if !mechs.contains(&Mechanism::XOAuth2) {
                mechs.push(Mechanism::XOAuth2);
            }
            // Only XOAUTH2 can carry a token.
            mechs.retain(|m| *m == Mechanism::XOAuth2);
            return (Some(Credentials::new(user, token.clone())), mechs);
        }
        match (&self.user, &self.password) {
            (Some(_), _) | (None, Some(_)) => (
                Some(Credentials::new(
                    user,
                    self.password.clone().unwrap_or_default(),
                )),
                self.authentication
                    .iter()
                    .copied()
                    .filter(|m| *m != Mechanism::XOAuth2)
                    .collect(),
            ),
            (None, None) => (None, self.authentication.clone()),
        }
    }

    /// The EHLO name: [`Options::domain`], else this machine's host name.
    pub(crate) fn hello_name(&self) -> String {
        if let Some(d) = &self.domain {
            return d.clone();
        }
        local_host_name().unwrap_or_else(|| "localhost".into())
    }
}

/// This machine's host name, when it can be read and is usable in EHLO.
fn local_host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())?;
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    ok.then(|| name.to_string())
}

/// Decodes `%XX` escapes; `None` on a bad escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_forms() {
        let o = Options::from_url("smtp://us%40er:p%3Ass@host.example:2525").unwrap();
        assert_eq!(o.user.as_deref(), Some("us@er"));
        assert_eq!(o.password.as_deref(), Some("p:ss"));
        assert_eq!(o.host, "host.example");
        assert_eq!(o.effective_port(), 2525);
        assert!(!o.ssl);
        let o = Options::from_url("SMTPS://[::1]").unwrap();
        assert_eq!(o.host, "::1");
        assert!(o.ssl);
        assert_eq!(o.effective_port(), 465);
        let o = Options::from_url("smtp://[::1]:26/").unwrap();
        assert_eq!(o.effective_port(), 26);
        let o = Options::from_url("smtp://host").unwrap();
        assert_eq!(o.effective_port(), 25);
        assert!(o.user.is_none());
        for bad in [
            "http://host",
            "smtp://",
            "smtp://user@",
            "smtp://host:99999",
            "smtp://host:x",
            "smtp://u:%zz@host",
            "smtp://[::1",
            "smtp://[::1]x",
            "host:25",
            "smtp://h ost",
        ] {
            assert!(
                matches!(Options::from_url(bad), Err(NativeError::InvalidOptions(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn default_ports() {
        let mut o = Options::new("h");
        assert_eq!(o.effective_port(), 25);
        o.tls = TlsPolicy::Required;
        assert_eq!(o.effective_port(), 587);
        o.ssl = true;
        assert_eq!(o.effective_port(), 465);
    }

    #[test]
    fn credentials_choice() {
        let mut o = Options::new("h");
        assert!(o.credentials().0.is_none());
        o.user = Some("u".into());
        o.password = Some("p".into());
        let (c, m) = o.credentials();
        assert_eq!(c, Some(Credentials::new("u", "p")));
        assert!(!m.contains(&Mechanism::XOAuth2));
        o.xoauth2 = Some("tok".into());
        let (c, m) = o.credentials();
        assert_eq!(c, Some(Credentials::new("u", "tok")));
        assert_eq!(m, vec![Mechanism::XOAuth2]);
        assert!(!format!("{o:?}").contains("tok"));
        assert!(!format!("{o:?}").contains("\"p\""));
    }

    #[test]
    fn half_a_login_is_refused() {
        // Found by review: a user without a password sent AUTH with an
        // empty password.
        let refused = |o: &Options, field: &str| matches!(o.validate(), Err(NativeError::InvalidOptions(ref m)) if m.starts_with(&format!("{field}:")));
        let mut o = Options::new("h");
        o.user = Some("u".into());
        assert!(refused(&o, "password"), "{:?}", o.validate());
        o.user = None;
        o.password = Some("p".into());
        assert!(refused(&o, "user"), "{:?}", o.validate());
        o.user = Some("u".into());
        assert!(o.validate().is_ok());
        // `smtp://u:@host`: an empty password is half a login too.
        o.password = Some(String::new());
        assert!(refused(&o, "password"), "{:?}", o.validate());
        o.password = None;
        o.xoauth2 = Some("token".into());
        assert!(o.validate().is_ok());
    }

    #[test]
    fn hello_name_is_usable() {
        let name = Options::new("h").hello_name();
        assert!(!name.is_empty() && !name.contains(' '));
        let mut o = Options::new("h");
        o.domain = Some("client.example".into());
        assert_eq!(o.hello_name(), "client.example");
    }
}
