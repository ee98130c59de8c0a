//! Client commands, their wire form and their redacted display form.

use std::fmt;

use super::auth::Mechanism;

/// A secret line (AUTH data). `Display` and `Debug` show `<redacted>`;
/// only the wire form carries it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// One thing the client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `EHLO name`.
    Ehlo(String),
    /// `HELO name`.
    Helo(String),
    /// `STARTTLS`.
    StartTls,
    /// `AUTH mechanism [initial-response]`.
    Auth {
        /// The mechanism.
        mechanism: Mechanism,
        /// The base64 initial response (PLAIN, XOAUTH2).
        initial_response: Option<Secret>,
    },
    /// A base64 line answering a 334 challenge.
    AuthResponse(Secret),
    /// `*`: cancels a SASL exchange (RFC 4954 §4).
    AuthCancel,
    /// `MAIL FROM:<path> params…` (`from` empty for the null path).
    Mail {
        /// The reverse path, without angle brackets.
        from: String,
        /// ESMTP parameters, e.g. `SIZE=1234`, `BODY=8BITMIME`, `SMTPUTF8`.
        params: Vec<String>,
    },
    /// `RCPT TO:<path>`.
    Rcpt {
        /// The forward path, without angle brackets.
        to: String,
    },
    /// `DATA`.
    Data,
    /// `BDAT size [LAST]`; its `size` octets follow as [`Command::Content`].
    Bdat {
        /// The chunk size in octets.
        size: u64,
        /// True for the last chunk.
        last: bool,
    },
    /// Message octets exactly as written: after `DATA`'s 354 they are
    /// dot-stuffed and end with `.` CRLF; after `BDAT` they are the chunk.
    Content(Vec<u8>),
    /// `RSET`.
    Rset,
    /// `NOOP`.
    Noop,
    /// `HELP [topic]`.
    Help(Option<String>),
    /// `VRFY string`.
    Vrfy(String),
    /// `EXPN string`.
    Expn(String),
    /// `QUIT`.
    Quit,
}

impl Command {
    /// Appends the exact bytes sent on the wire.
    pub fn write_wire(&self, out: &mut Vec<u8>) {
        self.write_wire_shown(&self.to_string(), out);
    }

    /// [`Command::write_wire`] given the command's display form `shown`
    /// (`self.to_string()`, which the engine also needs for its transcript
    /// and so formats once): the wire form of every command but secrets
    /// and content is its display form and CRLF.
    pub(crate) fn write_wire_shown(&self, shown: &str, out: &mut Vec<u8>) {
        use std::io::Write;
        // Writing into a Vec cannot fail.
        let _ = match self {
            // Secrets (shown redacted) and content (shown as its size).
            Command::Auth {
                mechanism,
                initial_response: Some(r),
            } => write!(out, "AUTH {} {}\r\n", mechanism.name(), r.expose()),
            Command::AuthResponse(r) => write!(out, "{}\r\n", r.expose()),
            Command::Content(bytes) => {
                out.extend_from_slice(bytes);
                Ok(())
            }
            _ => {
                out.extend_from_slice(shown.as_bytes());
                out.extend_from_slice(b"\r\n");
                Ok(())
            }
        };
    }

    /// The exact bytes sent on the wire.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_wire(&mut v);
        v
    }

    /// A short name for error messages and deadlines, e.g. `RCPT TO`.
    pub fn verb(&self) -> &'static str {
        match self {
            Command::Ehlo(_) => "EHLO",
            Command::Helo(_) => "HELO",
            Command::StartTls => "STARTTLS",
            Command::Auth { .. } | Command::AuthResponse(_) | Command::AuthCancel => "AUTH",
            Command::Mail { .. } => "MAIL FROM",
            Command::Rcpt { .. } => "RCPT TO",
            Command::Data => "DATA",
            Command::Bdat { .. } => "BDAT",
            Command::Content(_) => "message content",
            Command::Rset => "RSET",
            Command::Noop => "NOOP",
            Command::Help(_) => "HELP",
            Command::Vrfy(_) => "VRFY",
            Command::Expn(_) => "EXPN",
            Command::Quit => "QUIT",
        }
    }
}

impl Command {
    /// `self.to_string()`, without the formatting machinery for the
    /// commands of every transaction (MAIL, RCPT, BDAT): the engine shows
    /// each command it writes (transcript, deadlines, errors).
    pub(crate) fn shown(&self) -> String {
        let mut out = String::new();
        match self {
            Command::Mail { from, params } => {
                out.reserve(13 + from.len() + params.iter().map(|p| p.len() + 1).sum::<usize>());
                out.push_str("MAIL FROM:<");
                out.push_str(from);
                out.push('>');
                for p in params {
                    out.push(' ');
                    out.push_str(p);
                }
            }
            Command::Rcpt { to } => {
                out.reserve(10 + to.len());
                out.push_str("RCPT TO:<");
                out.push_str(to);
                out.push('>');
            }
            Command::Bdat { size, last } => {
                out.push_str("BDAT ");
                push_decimal(&mut out, *size);
                if *last {
                    out.push_str(" LAST");
                }
            }
            _ => return self.to_string(),
        }
        out
    }
}

/// Appends `n` in decimal (without the formatting machinery).
pub(crate) fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|&d| char::from(d)));
}

/// The command line without CRLF, secrets redacted; `Content` shows its size.
impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Ehlo(n) => write!(f, "EHLO {n}"),
            Command::Helo(n) => write!(f, "HELO {n}"),
            Command::StartTls => f.write_str("STARTTLS"),
            Command::Auth {
                mechanism,
                initial_response,
            } => match initial_response {
                Some(r) => write!(f, "AUTH {} {r}", mechanism.name()),
                None => write!(f, "AUTH {}", mechanism.name()),
            },
            Command::AuthResponse(r) => write!(f, "{r}"),
            Command::AuthCancel => f.write_str("*"),
            Command::Mail { from, params } => {
                write!(f, "MAIL FROM:<{from}>")?;
                params.iter().try_for_each(|p| write!(f, " {p}"))
            }
            Command::Rcpt { to } => write!(f, "RCPT TO:<{to}>"),
            Command::Data => f.write_str("DATA"),
            Command::Bdat { size, last: true } => write!(f, "BDAT {size} LAST"),
            Command::Bdat { size, last: false } => write!(f, "BDAT {size}"),
            Command::Content(b) => write!(f, "<{} octets of message content>", b.len()),
            Command::Rset => f.write_str("RSET"),
            Command::Noop => f.write_str("NOOP"),
            Command::Help(None) => f.write_str("HELP"),
            Command::Help(Some(t)) => write!(f, "HELP {t}"),
            Command::Vrfy(s) => write!(f, "VRFY {s}"),
            Command::Expn(s) => write!(f, "EXPN {s}"),
            Command::Quit => f.write_str("QUIT"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_is_display() {
        let commands = [
            Command::Mail {
                from: String::new(),
                params: vec![],
            },
            Command::Mail {
                from: "zoë@exämple.com".into(),
                params: vec![
                    "SIZE=2600".into(),
                    "BODY=8BITMIME".into(),
                    "SMTPUTF8".into(),
                ],
            },
            Command::Rcpt {
                to: "b@example.net".into(),
            },
            Command::Bdat {
                size: 0,
                last: true,
            },
            Command::Bdat {
                size: 1234567,
                last: false,
            },
            Command::Bdat {
                size: u64::MAX,
                last: true,
            },
            Command::Data,
            Command::Content(vec![1, 2, 3]),
            Command::Auth {
                mechanism: Mechanism::Plain,
                initial_response: Some(Secret::new("AHUAcA==")),
            },
        ];
        for c in &commands {
            assert_eq!(c.shown(), c.to_string());
        }
    }

    #[test]
    fn wire_and_display() {
        let c = Command::Auth {
            mechanism: Mechanism::Plain,
            initial_response: Some(Secret::new("AHUAcA==")),
        };
        assert_eq!(c.to_wire(), b"AUTH PLAIN AHUAcA==\r\n");
        assert_eq!(c.to_string(), "AUTH PLAIN <redacted>");
        assert!(!format!("{c:?}").contains("AHUAcA"));
        let m = Command::Mail {
            from: String::new(),
            params: vec!["SIZE=10".into(), "SMTPUTF8".into()],
        };
        assert_eq!(m.to_wire(), b"MAIL FROM:<> SIZE=10 SMTPUTF8\r\n");
        assert_eq!(
            Command::Bdat {
                size: 5,
                last: true
            }
            .to_wire(),
            b"BDAT 5 LAST\r\n"
        );
        assert_eq!(Command::Content(b"x.".to_vec()).to_wire(), b"x.");
        assert_eq!(Command::Help(None).to_wire(), b"HELP\r\n");
        assert_eq!(
            Command::Help(Some("MAIL".into())).to_wire(),
            b"HELP MAIL\r\n"
        );
        assert_eq!(Command::Vrfy("bob".into()).to_wire(), b"VRFY bob\r\n");
        assert_eq!(Command::Expn("list".into()).to_string(), "EXPN list");
    }
}
