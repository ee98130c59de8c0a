//! The low-level ("manual") command API: one SMTP command at a time, for
//! callers that drive the transaction themselves (emailjs's
//! `SMTPConnection.mail/rcpt/data/message/data_end/rset`).
//!
//! The rules are those of the transaction engine: addresses and ESMTP
//! parameters are checked before anything is written, message content goes
//! through the same [`ContentEncoder`] (CRLF normalisation, dot-stuffing, one
//! terminator), deadlines follow RFC 5321 §4.5.3.2, a 421 ends the session,
//! and the transcript shows every line (no secrets are involved). Each
//! command is answered by one [`Event::Reply`].
//!
//! A command is accepted only when the session is ready, no queued message
//! is waiting or being sent, and no reply is awaited; anything else is an
//! [`SmtpError::Misuse`] at call time and nothing reaches the wire.

use super::{valid_path, Client, Direction, Event, Expect, Phase};
use crate::smtp::command::Command;
use crate::smtp::data::ContentEncoder;
use crate::smtp::error::SmtpError;
use crate::smtp::reply::Reply;

/// The low-level command whose reply is awaited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    Mail,
    Rcpt,
    Data,
    DataEnd,
    Rset,
    Help,
    Vrfy,
    Expn,
}

/// A transaction opened by [`Client::mail`].
#[derive(Debug)]
pub(crate) struct ManualTxn {
    /// The server accepted MAIL FROM (false while its reply is awaited).
    mail_accepted: bool,
    /// MAIL FROM carried SMTPUTF8: UTF-8 recipients may follow.
    smtputf8: bool,
    /// Recipients the server accepted.
    accepted: usize,
    /// After DATA's 354: the encoder and the octets written so far.
    content: Option<(ContentEncoder, u64)>,
}

/// `esmtp-param = esmtp-keyword ["=" esmtp-value]` (RFC 5321 §4.1.2).
fn valid_param(p: &str) -> bool {
    if p.len() > MAX_ARGUMENT {
        return false;
    }
    let (keyword, value) = match p.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (p, None),
    };
    let kw = keyword.as_bytes();
    let keyword_ok = kw.first().is_some_and(u8::is_ascii_alphanumeric)
        && kw.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-');
    let value_ok = value
        .is_none_or(|v| !v.is_empty() && v.bytes().all(|b| (33..=126).contains(&b) && b != b'='));
    keyword_ok && value_ok
}

/// The longest argument of a low-level command: RFC 5321 §4.5.3.1.4
/// limits a command line to 512 octets.
const MAX_ARGUMENT: usize = 500;

/// A HELP/VRFY/EXPN argument: not blank, no CR, LF or other controls, at
/// most [`MAX_ARGUMENT`] octets.
fn check_text(what: &str, arg: &str) -> Result<(), SmtpError> {
    if arg.trim().is_empty() || arg.chars().any(char::is_control) || arg.len() > MAX_ARGUMENT {
        return Err(SmtpError::InvalidArgument(format!(
            "{what} needs a non-empty argument of at most {MAX_ARGUMENT} octets without CR, LF or control characters, got {}",
            crate::excerpt::Excerpt(arg)
        )));
    }
    Ok(())
}

impl Client {
    /// Checks that a low-level command may be sent now; gives the open
    /// transaction, if any.
    fn manual_gate(&mut self, verb: &str) -> Result<Option<&mut ManualTxn>, SmtpError> {
        if matches!(self.phase, Phase::Closed) || self.quit_requested {
            return Err(SmtpError::NotConnected);
        }
        let misuse = |why: String| Err(SmtpError::Misuse(format!("{verb}: {why}")));
        if !self.jobs.is_empty() || matches!(self.phase, Phase::Txn(_)) {
            return misuse("queued messages are being sent on this session".into());
        }
        if !matches!(self.phase, Phase::Ready | Phase::Manual(_)) {
            return misuse("the session is not ready (greeting, EHLO, STARTTLS or AUTH)".into());
        }
        if let Some((_, awaited)) = self.wire.expect.front() {
            return misuse(format!("the reply to {awaited} is still awaited"));
        }
        match &mut self.phase {
            Phase::Manual(m) if m.content.is_none() => Ok(Some(m)),
            Phase::Manual(_) => misuse(
                "message content is being sent (after DATA's 354): end it with data_end first"
                    .into(),
            ),
            _ => Ok(None),
        }
    }

    fn manual_write(&mut self, cmd: Command, step: Step) {
        self.wire.write(cmd, Some(Expect::Manual(step)));
        self.rearm();
    }

    /// Sends `MAIL FROM:<from> params…` (`from` empty for the null path,
    /// without angle brackets; each parameter `KEYWORD[=value]`). A
    /// non-ASCII `from` adds `SMTPUTF8` when the server offers it and is
    /// refused with [`SmtpError::SmtpUtf8Required`] when it does not.
    /// Answered by [`Event::Reply`]; a 2xx opens the transaction.
    pub fn mail(
        &mut self,
        from: &str,
        params: &[String],
        now: std::time::Duration,
    ) -> Result<(), SmtpError> {
        self.now = now;
        if self.manual_gate("MAIL FROM")?.is_some() {
            return Err(SmtpError::Misuse(
                "MAIL FROM: a transaction is already open: finish it with data_end or rset".into(),
            ));
        }
        if !from.is_empty() && !valid_path(from) {
            return Err(SmtpError::InvalidAddress(from.to_string()));
        }
        if let Some(bad) = params.iter().find(|p| !valid_param(p)) {
            return Err(SmtpError::InvalidArgument(format!(
                "MAIL FROM parameter {} is not KEYWORD[=value]",
                crate::excerpt::Excerpt(bad)
            )));
        }
        let mut params = params.to_vec();
        let mut smtputf8 = params.iter().any(|p| p.eq_ignore_ascii_case("SMTPUTF8"));
        if !from.is_ascii() && !smtputf8 {
            if !self.caps.as_ref().is_some_and(|c| c.smtp_utf8) {
                return Err(SmtpError::SmtpUtf8Required);
            }
            params.push("SMTPUTF8".into());
            smtputf8 = true;
        }
        self.phase = Phase::Manual(Box::new(ManualTxn {
            mail_accepted: false,
            smtputf8,
            accepted: 0,
            content: None,
        }));
        let from = from.to_string();
        self.manual_write(Command::Mail { from, params }, Step::Mail);
        Ok(())
    }

    /// Sends `RCPT TO:<to>` (without angle brackets) in the transaction
    /// opened by [`Client::mail`]. A non-ASCII `to` needs a MAIL FROM that
    /// carried SMTPUTF8. Answered by [`Event::Reply`].
    pub fn rcpt(&mut self, to: &str, now: std::time::Duration) -> Result<(), SmtpError> {
        self.now = now;
        let smtputf8 = match self.manual_gate("RCPT TO")? {
            Some(m) if m.mail_accepted => m.smtputf8,
            _ => {
                return Err(SmtpError::Misuse(
                    "RCPT TO: no MAIL FROM was accepted (call mail first)".into(),
                ))
            }
        };
        if !valid_path(to) {
            return Err(SmtpError::InvalidAddress(to.to_string()));
        }
        if !to.is_ascii() && !smtputf8 {
            return Err(SmtpError::SmtpUtf8Required);
        }
        let to = to.to_string();
        self.manual_write(Command::Rcpt { to }, Step::Rcpt);
        Ok(())
    }

    /// Sends `DATA` once a recipient was accepted; a 354 reply (in
    /// [`Event::Reply`]) opens the content: [`Client::data_chunk`], then
    /// [`Client::data_end`].
    pub fn data(&mut self, now: std::time::Duration) -> Result<(), SmtpError> {
        self.now = now;
        match self.manual_gate("DATA")? {
            Some(m) if m.mail_accepted && m.accepted > 0 => {}
            Some(m) if m.mail_accepted => {
                return Err(SmtpError::Misuse(
                    "DATA: no recipient was accepted (call rcpt first)".into(),
                ))
            }
            _ => {
                return Err(SmtpError::Misuse(
                    "DATA: no MAIL FROM was accepted (call mail first)".into(),
                ))
            }
        }
        self.manual_write(Command::Data, Step::Data);
        Ok(())
    }

    /// Message octets after DATA's 354, in any split: they go through the
    /// same encoder as queued messages (bare CR and LF become CRLF, lines
    /// starting with `.` are dot-stuffed), so no split or content can end
    /// the data early. Nothing is awaited, so no deadline runs.
    pub fn data_chunk(&mut self, bytes: &[u8]) -> Result<(), SmtpError> {
        if matches!(self.phase, Phase::Closed) {
            return Err(SmtpError::NotConnected);
        }
        let Phase::Manual(m) = &mut self.phase else {
            return Err(SmtpError::Misuse(
                "message content outside DATA (call data and wait for its 354)".into(),
            ));
        };
        let Some((encoder, octets)) = &mut m.content else {
            return Err(SmtpError::Misuse(
                "message content outside DATA (call data and wait for its 354)".into(),
            ));
        };
        let start = self.wire.out.len();
        encoder.encode(bytes, &mut self.wire.out);
        *octets += (self.wire.out.len() - start) as u64;
        self.wire.content(start);
        Ok(())
    }

    /// Ends the content (a CRLF if the last line is unterminated, then
    /// `.` CRLF) and waits for the final reply ([`Event::Reply`] with the
    /// command `end of data`); whatever its code, the transaction is over.
    pub fn data_end(&mut self, now: std::time::Duration) -> Result<(), SmtpError> {
        self.now = now;
        if matches!(self.phase, Phase::Closed) {
            return Err(SmtpError::NotConnected);
        }
        let content = match &mut self.phase {
            Phase::Manual(m) => m.content.take(),
            _ => None,
        };
        let Some((mut encoder, mut octets)) = content else {
            return Err(SmtpError::Misuse(
                "data_end outside DATA (call data and wait for its 354)".into(),
            ));
        };
        let start = self.wire.out.len();
        encoder.finish(&mut self.wire.out);
        octets += (self.wire.out.len() - start) as u64;
        self.wire.content(start);
        self.wire
            .expect
            .push_back((Expect::Manual(Step::DataEnd), "end of data".into()));
        // Answered only once the end of data is taken (out of turn before).
        self.wire.unsent += 1;
        self.wire.note(Direction::Client, || {
            format!("<{octets} octets of message content>")
        });
        self.rearm();
        Ok(())
    }

    /// Sends `RSET`; a 2xx reply ([`Event::Reply`]) ends an open
    /// low-level transaction.
    pub fn rset(&mut self, now: std::time::Duration) -> Result<(), SmtpError> {
        self.now = now;
        self.manual_gate("RSET")?;
        self.manual_write(Command::Rset, Step::Rset);
        Ok(())
    }

    /// Sends `HELP [topic]`; answered by [`Event::Reply`].
    pub fn help(&mut self, topic: Option<&str>, now: std::time::Duration) -> Result<(), SmtpError> {
        self.now = now;
        self.manual_gate("HELP")?;
        if let Some(t) = topic {
            check_text("HELP", t)?;
        }
        self.manual_write(Command::Help(topic.map(str::to_string)), Step::Help);
        Ok(())
    }

    /// Sends `VRFY string`; answered by [`Event::Reply`].
    pub fn vrfy(&mut self, what: &str, now: std::time::Duration) -> Result<(), SmtpError> {
        self.now = now;
        self.manual_gate("VRFY")?;
        check_text("VRFY", what)?;
        self.manual_write(Command::Vrfy(what.to_string()), Step::Vrfy);
        Ok(())
    }

    /// Sends `EXPN string`; answered by [`Event::Reply`].
    pub fn expn(&mut self, list: &str, now: std::time::Duration) -> Result<(), SmtpError> {
        self.now = now;
        self.manual_gate("EXPN")?;
        check_text("EXPN", list)?;
        self.manual_write(Command::Expn(list.to_string()), Step::Expn);
        Ok(())
    }

    /// NOOP inside a low-level transaction: sent now, outside DATA, when
    /// no reply is awaited.
    pub(super) fn manual_noop(&mut self) -> Result<(), SmtpError> {
        self.manual_gate("NOOP")?;
        self.wire.write(Command::Noop, Some(Expect::Noop));
        Ok(())
    }

    /// The reply to a low-level command.
    pub(super) fn manual_reply(&mut self, step: Step, command: String, reply: Reply) {
        let positive = reply.is_positive();
        match (&mut self.phase, step) {
            (Phase::Manual(m), Step::Mail) if positive => m.mail_accepted = true,
            (Phase::Manual(m), Step::Rcpt) if positive => m.accepted += 1,
            (Phase::Manual(m), Step::Data) if reply.code() == 354 => {
                m.content = Some((ContentEncoder::data(), 0));
            }
            // A refused MAIL opens nothing; after the end of data, and
            // after an accepted RSET, the transaction is over.
            (Phase::Manual(_), Step::Mail | Step::DataEnd) => self.phase = Phase::Ready,
            (Phase::Manual(_), Step::Rset) if positive => self.phase = Phase::Ready,
            _ => {}
        }
        self.emit(Event::Reply { command, reply });
        self.manual_settle();
        self.start_next();
    }

    /// After QUIT was asked for: abandons an open low-level transaction
    /// once no reply is awaited and no content is being sent.
    pub(super) fn manual_settle(&mut self) {
        if let Phase::Manual(m) = &self.phase {
            if self.quit_requested && self.wire.expect.is_empty() && m.content.is_none() {
                self.phase = Phase::Ready;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_param;

    #[test]
    fn esmtp_params() {
        for ok in [
            "SIZE=10",
            "BODY=8BITMIME",
            "SMTPUTF8",
            "X-A=b+c",
            "RET=HDRS",
        ] {
            assert!(valid_param(ok), "{ok}");
        }
        for bad in [
            "", "=x", "-A", "SIZE=", "A=b=c", "A B", "A=b c", "A\r\n", "A=\u{e9}", "A<", "A=b\n",
        ] {
            assert!(!valid_param(bad), "{bad:?}");
        }
    }
}
