//! The composer's messages as the engine's message bodies.

use super::{BodyError, Client, MessageBody, MessageId, SmtpError};
use crate::envelope::RenderOptions;
use crate::mime::{ComposeError, Message, MessageStream};
use std::task::Poll;
use std::time::Duration;

/// A composer error as a body error. The engine reads only its text
/// (`SmtpError::Body`); the wasm build boxes that text instead of the
/// `ComposeError`, whose `dyn Error` vtable would keep its `Debug` impl and
/// those of everything it holds (io, address, header errors) in the module
/// for nothing (issue 7: the .wasm size).
fn body_error(e: ComposeError) -> BodyError {
    #[cfg(target_arch = "wasm32")]
    return e.to_string().into();
    #[cfg(not(target_arch = "wasm32"))]
    Box::new(e)
}

impl MessageBody for MessageStream {
    fn requires_smtputf8(&self) -> bool {
        self.message().requires_smtputf8()
    }

    fn start(&mut self, opts: RenderOptions) -> Result<Option<u64>, BodyError> {
        MessageStream::start(self, opts).map_err(body_error)
    }

    fn is_8bit(&self) -> bool {
        MessageStream::is_8bit(self)
    }

    fn next_chunk(&mut self) -> Result<Option<&[u8]>, BodyError> {
        MessageStream::next_chunk(self).map_err(body_error)
    }

    fn poll_chunk(&mut self) -> Result<Poll<Option<&[u8]>>, BodyError> {
        MessageStream::poll_chunk(self).map_err(body_error)
    }
}

impl Client {
    /// Queues a composed message with its own envelope (see
    /// [`Message::envelope`]); the body is rendered with what the server
    /// offers (8BITMIME, SMTPUTF8) when its turn comes.
    pub fn send_message(
        &mut self,
        message: Message,
        now: Duration,
    ) -> Result<MessageId, SmtpError> {
        let envelope = message.envelope().clone();
        self.send(envelope, Box::new(message.into_stream()), now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::smtp::{transaction, Capabilities, Command};

    #[test]
    fn a_composed_message_becomes_a_complete_transaction() {
        let message = Message::builder()
            .from("Ann <ann@example.com>")
            .to("bob@example.com, Carol <carol@example.org>")
            .bcc("audit@example.com")
            .subject("Hi ✓")
            .text("Hello.\n.\nA lone dot above.\n")
            .deterministic(1)
            .build()
            .unwrap();
        let expected = message.to_bytes().unwrap();
        let envelope = message.envelope().clone();
        let caps = Capabilities {
            pipelining: true,
            eight_bit_mime: true,
            size: Some(1_000_000),
            ..Capabilities::default()
        };
        let commands = transaction(&envelope, message.into_stream(), &caps).unwrap();
        let lines: Vec<String> = commands.iter().map(|c| c.to_string()).collect();
        let size = expected.len();
        assert_eq!(lines[0], format!("MAIL FROM:<ann@example.com> SIZE={size}"));
        let rcpts: Vec<&String> = lines.iter().filter(|l| l.starts_with("RCPT TO:")).collect();
        assert_eq!(rcpts.len(), 3, "{lines:?}");
        let body: Vec<u8> = commands
            .iter()
            .filter(|c| matches!(c, Command::Content(_)))
            .flat_map(|c| c.to_wire())
            .collect();
        // Dot-stuffed and terminated; un-stuffing gives the composed bytes.
        assert!(body.ends_with(b"\r\n.\r\n"));
        let unstuffed = String::from_utf8(body[..body.len() - 3].to_vec())
            .unwrap()
            .replace("\r\n..", "\r\n.");
        assert_eq!(unstuffed.as_bytes(), &expected[..]);
        assert_eq!(lines[4], "DATA");
    }
}
