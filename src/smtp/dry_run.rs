//! A whole mail transaction as the exact command sequence the client
//! sends, computed by running the real engine against a server that says
//! yes to everything.

use std::time::Duration;

use super::capabilities::Capabilities;
use super::command::Command;
use super::engine::{Client, Config, Event};
use super::error::SmtpError;
use super::MessageBody;
use crate::envelope::Envelope;

/// The commands a client with the default [`Config`] sends to deliver one
/// message to a server with these capabilities (after the greeting, EHLO,
/// STARTTLS and AUTH), assuming every reply is positive.
///
/// Message content appears as [`Command::Content`]: dot-stuffed and ending
/// in `.` CRLF after `DATA`, the raw chunk after `BDAT`.
///
/// ```
/// use mimeograph::envelope::{Envelope, EnvelopeAddress};
/// use mimeograph::smtp::{transaction, Capabilities, Command, RawMessage};
///
/// let envelope = Envelope {
///     from: Some(EnvelopeAddress::new("alice@example.org", Some("alice@example.org".into()))),
///     to: vec![
///         EnvelopeAddress::new("bob@example.net", Some("bob@example.net".into())),
///         EnvelopeAddress::new("carol@bücher.example", Some("carol@xn--bcher-kva.example".into())),
///     ],
/// };
/// let message = RawMessage::new("Subject: hi\r\n\r\n.hello\r\n");
/// let caps = Capabilities { pipelining: true, size: Some(0), ..Capabilities::default() };
///
/// let commands = transaction(&envelope, message, &caps).unwrap();
/// let lines: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
/// assert_eq!(lines, [
///     "MAIL FROM:<alice@example.org> SIZE=23",
///     "RCPT TO:<bob@example.net>",
///     "RCPT TO:<carol@xn--bcher-kva.example>",
///     "DATA",
///     "<27 octets of message content>",
/// ]);
/// assert_eq!(commands[4], Command::Content(b"Subject: hi\r\n\r\n..hello\r\n.\r\n".to_vec()));
/// ```
pub fn transaction(
    envelope: &Envelope,
    body: impl MessageBody + Send + 'static,
    capabilities: &Capabilities,
) -> Result<Vec<Command>, SmtpError> {
    transaction_with(&Config::default(), envelope, body, capabilities)
}

/// [`transaction`] with a configuration (pipelining, chunking,
/// require-all-recipients).
pub fn transaction_with(
    config: &Config,
    envelope: &Envelope,
    body: impl MessageBody + Send + 'static,
    capabilities: &Capabilities,
) -> Result<Vec<Command>, SmtpError> {
    let mut client = Client::recording(config.clone(), capabilities.clone());
    client.send(envelope.clone(), Box::new(body), Duration::ZERO)?;
    loop {
        while client.poll_transmit().is_some() {}
        while let Some(event) = client.poll_event() {
            match event {
                Event::MessageSent(_) => return Ok(client.take_record()),
                Event::MessageFailed { error, .. } => return Err(error),
                _ => {}
            }
        }
        if !client.answer_positively() {
            return Err(SmtpError::Protocol("dry run stalled".into()));
        }
    }
}
