//! Errors thrown to JavaScript: a JS `Error` named `MimeographError` with
//! `code`, `field` and `message` (see `API.md`).

use js_sys::Reflect;
use wasm_bindgen::JsValue;

use crate::header::HeaderError;
use crate::mime::ComposeError;
use crate::smtp::SmtpError;

/// An error on its way to JavaScript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BindingError {
    pub code: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl BindingError {
    pub fn new(code: &'static str, field: Option<&str>, message: impl Into<String>) -> Self {
        BindingError {
            code,
            field: field.map(str::to_owned),
            message: message.into(),
        }
    }

    /// A wrong JS type or a missing value in `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new("INVALID_ARGUMENT", Some(field), message)
    }

    /// Rewrites the field name (e.g. the core's `alternative[0]` into the
    /// JS option path `attachment[2]`).
    /// The message names the field too: it is rewritten alike.
    pub fn map_field(mut self, f: impl FnOnce(&str) -> String) -> Self {
        if let Some(core) = self.field.take() {
            let js = f(&core);
            // (An empty core field names nothing in the message.)
            if !core.is_empty() && js != core {
                self.message = crate::substr::replace(&self.message, &core, &js);
            }
            self.field = Some(js);
        }
        self
    }

    /// The JS `Error` object.
    pub fn to_js(&self) -> JsValue {
        let err = js_sys::Error::new(&self.message);
        err.set_name("MimeographError");
        let obj: &JsValue = err.as_ref();
        // Setting a property on a fresh Error object cannot fail.
        let _ = Reflect::set(obj, &"code".into(), &self.code.into());
        let field = match &self.field {
            Some(f) => JsValue::from_str(f),
            None => JsValue::UNDEFINED,
        };
        let _ = Reflect::set(obj, &"field".into(), &field);
        err.into()
    }
}

impl From<BindingError> for JsValue {
    fn from(e: BindingError) -> JsValue {
        e.to_js()
    }
}

fn header_field(e: &HeaderError) -> Option<&str> {
    match e {
        HeaderError::InvalidName(name) | HeaderError::Reserved(name) => Some(name),
        HeaderError::LineBreak { field }
        | HeaderError::ControlCharacter { field }
        | HeaderError::LineTooLong { field }
        | HeaderError::ValueTooLong { field, .. } => Some(field),
        HeaderError::InvalidMessageId(_) => None,
    }
}

impl From<ComposeError> for BindingError {
    fn from(e: ComposeError) -> Self {
        let message = e.to_string();
        let (code, field) = match &e {
            ComposeError::Address { field, .. } => ("ADDRESS", Some(field.as_str())),
            ComposeError::Header(h) => ("HEADER", header_field(h)),
            ComposeError::HeaderField { field, .. } => ("HEADER", Some(field.as_str())),
            ComposeError::Encoding { field, .. } => ("ENCODING", Some(field.as_str())),
            ComposeError::MissingFrom => ("MISSING_FROM", Some("from")),
            ComposeError::NoRecipients => ("NO_RECIPIENTS", Some("to")),
            ComposeError::SenderRequired => ("COMPOSE", Some("sender")),
            ComposeError::MissingAttachmentSource { field }
            | ComposeError::InvalidContentType { field, .. }
            | ComposeError::InvalidFilename { field, .. }
            | ComposeError::InvalidContentId { field, .. }
            | ComposeError::InvalidTransferEncoding { field, .. }
            | ComposeError::Io { field, .. }
            | ComposeError::LengthMismatch { field, .. }
            | ComposeError::SourceConsumed { field } => ("COMPOSE", Some(field.as_str())),
        };
        BindingError::new(code, field, message)
    }
}

impl From<SmtpError> for BindingError {
    fn from(e: SmtpError) -> Self {
        let field = match &e {
            SmtpError::InvalidHelloName(_) => Some("domain"),
            SmtpError::InvalidCredentials { field, .. } => Some(match *field {
                "user" => "user",
                _ => "password",
            }),
            _ => None,
        };
        BindingError::new("SMTP", field, e.to_string())
    }
}

/// Result of a binding call.
pub(crate) type BResult<T> = Result<T, BindingError>;
