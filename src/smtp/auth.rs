//! SASL mechanisms for AUTH (RFC 4954): PLAIN, LOGIN, CRAM-MD5, XOAUTH2.

use std::fmt;

use crate::encoding::base64::encode as b64;

use super::command::{Command, Secret};
use super::error::SmtpError;
use super::md5::md5;
use super::reply::Reply;

/// An AUTH mechanism the engine can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// CRAM-MD5 (RFC 2195).
    CramMd5,
    /// LOGIN (draft-murchison-sasl-login).
    Login,
    /// PLAIN (RFC 4616).
    Plain,
    /// XOAUTH2 (Google/Microsoft OAuth 2.0 bearer tokens).
    XOAuth2,
}

impl Mechanism {
    /// emailjs's default preference order.
    pub const DEFAULT_PREFERENCE: [Mechanism; 4] = [
        Mechanism::CramMd5,
        Mechanism::Login,
        Mechanism::Plain,
        Mechanism::XOAuth2,
    ];

    /// The SASL name, e.g. `CRAM-MD5`.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Login => "LOGIN",
            Mechanism::Plain => "PLAIN",
            Mechanism::XOAuth2 => "XOAUTH2",
        }
    }
}

/// A user name and a secret (a password, or an OAuth 2.0 access token for
/// XOAUTH2). `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    secret: String,
}

impl Credentials {
    /// Builds credentials.
    pub fn new(username: impl Into<String>, secret: impl Into<String>) -> Credentials {
        Credentials {
            username: username.into(),
            secret: secret.into(),
        }
    }
}

impl Credentials {
    /// Refuses credentials that would change the meaning of a SASL
    /// exchange: a control character in the user name, NUL (PLAIN's
    /// separator) or 0x01 (XOAUTH2's) in the user name or the secret.
    pub(crate) fn check(&self) -> Result<(), SmtpError> {
        if self.username.chars().any(char::is_control) {
            return Err(SmtpError::InvalidCredentials {
                field: "user",
                reason: "the user name holds CR, LF, NUL or another control character",
            });
        }
        if self.secret.contains(['\0', '\x01']) {
            return Err(SmtpError::InvalidCredentials {
                field: "secret",
                reason: "the secret holds NUL or 0x01, which would change the meaning of AUTH PLAIN or XOAUTH2",
            });
        }
        Ok(())
    }

    /// The forms in which the secret travels (as it is, base64 for LOGIN,
    /// the PLAIN and XOAUTH2 initial responses): what is scrubbed from
    /// server replies. A raw secret shorter than 6 bytes is left out (it
    /// would garble ordinary text); its encoded forms are longer.
    pub(crate) fn secret_forms(&self) -> Vec<String> {
        let mut forms = vec![
            b64(&self.secret),
            b64(format!("\0{}\0{}", self.username, self.secret)),
            b64(format!(
                "user={}\x01auth=Bearer {}\x01\x01",
                self.username, self.secret
            )),
        ];
        if self.secret.len() >= 6 {
            forms.push(self.secret.clone());
        }
        // The secret inside other base64 (an XOAUTH2 error step echoing
        // it in its JSON, say): the middle of its encoding at each of the
        // three alignments, which any such base64 contains.
        for k in 1..3 {
            let mut input = vec![0u8; k];
            input.extend_from_slice(self.secret.as_bytes());
            let encoded = b64(&input);
            if let Some(middle) = encoded.get(4..encoded.len().saturating_sub(4)) {
                if middle.len() >= 8 {
                    forms.push(middle.to_string());
                }
            }
        }
        if let Some(middle) = b64(&self.secret)
            .get(..(self.secret.len() / 3) * 4)
            .filter(|m| m.len() >= 8)
        {
            forms.push(middle.to_string());
        }
        forms.retain(|f| f.len() >= 6);
        // Longest first, so that a form containing another goes whole. A
        // few strings: an insertion sort, stable like `sort_by_key`, without
        // the general sort's code (3 KB of the .wasm).
        for i in 1..forms.len() {
            let mut j = i;
            while j > 0 && forms[j - 1].len() < forms[j].len() {
                forms.swap(j - 1, j);
                j -= 1;
            }
        }
        forms
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// HMAC-MD5 (RFC 2104), as CRAM-MD5 needs it.
pub fn hmac_md5(key: &[u8], message: &[u8]) -> [u8; 16] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..16].copy_from_slice(&md5(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Vec::with_capacity(64 + message.len());
    inner.extend(block.map(|b| b ^ 0x36));
    inner.extend_from_slice(message);
    let mut outer = Vec::with_capacity(64 + 16);
    outer.extend(block.map(|b| b ^ 0x5c));
    outer.extend(md5(&inner));
    md5(&outer)
}

/// The CRAM-MD5 response to a decoded challenge: `user hex(hmac)`.
pub fn cram_md5_response(username: &str, secret: &str, challenge: &[u8]) -> String {
    let mac = hmac_md5(secret.as_bytes(), challenge);
    let mut out = String::with_capacity(username.len() + 33);
    out.push_str(username);
    out.push(' ');
    for b in mac {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// What to do after a reply during AUTH.
#[derive(Debug)]
pub(crate) enum AuthStep {
    /// Send this line.
    Send(Command),
    /// Authenticated.
    Done,
    /// Failed.
    Failed(SmtpError),
    /// Failed while the server waits for a response to a 334: cancel the
    /// exchange with `*` (RFC 4954 §4), then fail.
    Cancel(SmtpError),
}

/// One running SASL exchange.
#[derive(Debug)]
pub(crate) struct AuthExchange {
    mechanism: Mechanism,
    credentials: Credentials,
    step: u8,
    xoauth_error: Option<String>,
}

impl AuthExchange {
    pub(crate) fn new(mechanism: Mechanism, credentials: Credentials) -> AuthExchange {
        AuthExchange {
            mechanism,
            credentials,
            step: 0,
            xoauth_error: None,
        }
    }

    /// The `AUTH` command that opens the exchange.
    pub(crate) fn initial(&self) -> Command {
        let c = &self.credentials;
        let initial_response = match self.mechanism {
            Mechanism::Plain => Some(b64(format!("\0{}\0{}", c.username, c.secret))),
            Mechanism::XOAuth2 => Some(b64(format!(
                "user={}\x01auth=Bearer {}\x01\x01",
                c.username, c.secret
            ))),
            Mechanism::Login | Mechanism::CramMd5 => None,
        };
        Command::Auth {
            mechanism: self.mechanism,
            initial_response: initial_response.map(Secret::new),
        }
    }

    fn failed(&mut self, reply: &Reply) -> AuthStep {
        AuthStep::Failed(SmtpError::AuthFailed {
            mechanism: self.mechanism,
            reply: reply.clone(),
            detail: self.xoauth_error.take(),
        })
    }

    /// Handles a reply to the last line sent.
    pub(crate) fn on_reply(&mut self, reply: &Reply) -> AuthStep {
        if reply.code() == 235 {
            return AuthStep::Done;
        }
        if reply.code() != 334 {
            return self.failed(reply);
        }
        let step = self.step;
        self.step += 1;
        let c = &self.credentials;
        let line = match (self.mechanism, step) {
            (Mechanism::Login, 0) => b64(&c.username),
            (Mechanism::Login, 1) => b64(&c.secret),
            (Mechanism::CramMd5, 0) => {
                let challenge = reply.lines().first().map(|l| l.trim()).unwrap_or("");
                let Some(challenge) = crate::encoding::base64::decode(challenge) else {
                    return AuthStep::Cancel(SmtpError::Protocol(
                        "CRAM-MD5 challenge is not base64".into(),
                    ));
                };
                b64(cram_md5_response(&c.username, &c.secret, &challenge))
            }
            (Mechanism::XOAuth2, 0) => {
                // The error step: the server sends base64 JSON, the client
                // answers with an empty line and gets the final 5xx.
                let text = reply.lines().first().map(|l| l.trim()).unwrap_or("");
                let detail = match crate::encoding::base64::decode(text) {
                    Some(json) => String::from_utf8_lossy(&json).into_owned(),
                    None => text.to_string(),
                };
                let detail = c
                    .secret_forms()
                    .iter()
                    .fold(detail, |d, s| crate::substr::replace(&d, s, "<redacted>"));
                self.xoauth_error = Some(detail);
                String::new()
            }
            _ => {
                return AuthStep::Cancel(SmtpError::Protocol(format!(
                    "unexpected 334 in AUTH {}",
                    self.mechanism.name()
                )))
            }
        };
        AuthStep::Send(Command::AuthResponse(Secret::new(line)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_md5_rfc2104_vectors() {
        assert_eq!(
            hex(&hmac_md5(&[0x0b; 16], b"Hi There")),
            "9294727a3638bb1c13f48ef8158bfc9d"
        );
        assert_eq!(
            hex(&hmac_md5(b"Jefe", b"what do ya want for nothing?")),
            "750c783e6ab0b503eaa86e310a5db738"
        );
        // RFC 2202 test case 6: key longer than the block.
        assert_eq!(
            hex(&hmac_md5(
                &[0xaa; 80],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd"
        );
    }

    #[test]
    fn cram_md5_rfc2195_example() {
        let challenge = crate::encoding::base64::decode(
            "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
        )
        .unwrap();
        assert_eq!(challenge, b"<1896.697170952@postoffice.reston.mci.net>");
        let r = cram_md5_response("tim", "tanstaaftanstaaf", &challenge);
        assert_eq!(r, "tim b913a602c7eda7a495b4e6e7334d3890");
        assert_eq!(b64(r), "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");
    }

    #[test]
    fn debug_redacts() {
        let c = Credentials::new("u", "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn secret_forms_are_longest_first_and_cover_the_secret() {
        let c = Credentials::new("user", "correct horse battery");
        let forms = c.secret_forms();
        assert!(forms.len() >= 4, "{forms:?}");
        assert!(
            forms.windows(2).all(|w| w[0].len() >= w[1].len()),
            "{forms:?}"
        );
        assert!(forms.iter().any(|f| f == "correct horse battery"));
    }
}
