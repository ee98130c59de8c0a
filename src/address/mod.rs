//! RFC 5322 address parsing, validation and formatting.
//!
//! Two parsers live here:
//!
//! * [`parse_address_list`] is lenient and never fails. It follows the
//!   `addressparser` of emailjs / nodemailer, returning `{name, address}`
//!   pairs and groups exactly as those libraries do, for code that must
//!   behave like them (the JS API).
//! * [`AddressList::parse`] and [`Mailbox::parse`] are strict RFC 5322
//!   readers (with the obsolete forms of RFC 5322 §4.4 tolerated). Every
//!   address they return is validated as an RFC 5321 mailbox; anything that
//!   is not one is a typed [`AddressError`], never silently repaired.
//!
//! [`format_entries`] renders addresses for a header, as tokens for the
//! header folder.

use std::fmt;

mod format;
mod idn;
#[cfg(feature = "wasm")]
pub(crate) use idn::punycode_decode;
mod mailbox;
mod parse;

pub use format::format_entries;
pub(crate) use format::{format_entries_into, format_entries_line};
pub use mailbox::Mailbox;
pub use parse::parse_address_list;
pub(crate) use parse::parse_strict_indexed;

use crate::encoding::EncodingError;
use crate::excerpt::Excerpt;

/// Why an address (or address list) was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AddressError {
    /// The input is empty (or only whitespace).
    Empty,
    /// A character that may not stand where it was found: CR, LF, NUL,
    /// `<`, `>`, another control character, or a character that cannot
    /// stand in an addr-spec (such as a space outside a quoted local part).
    InvalidCharacter {
        /// The offending input.
        input: String,
        /// The first offending character.
        character: char,
    },
    /// The address has no `@`.
    MissingAt(String),
    /// The local part is empty or is neither a dot-atom nor a quoted string.
    InvalidLocalPart(String),
    /// The domain is not a valid (internationalized) host name or address
    /// literal; includes IDNA (UTS-46) failures.
    InvalidDomain(String),
    /// Over an RFC 5321 limit: local part > 64 octets, domain > 255 octets,
    /// or address > 254 octets.
    TooLong(String),
    /// A display name longer than [`crate::header::MAX_VALUE_LEN`] octets
    /// (the limit of any header value): its length.
    NameTooLong(usize),
    /// [`Mailbox::parse`] found no mailbox, several, or a group.
    NotSingleMailbox(String),
    /// The address has a non-ASCII local part and was rendered without
    /// UTF-8 headers (it can only travel with SMTPUTF8).
    RequiresSmtpUtf8(String),
    /// The input is not an RFC 5322 address (list).
    Unparsable(String),
    /// A display name could not be encoded as RFC 2047 encoded words.
    Encoding(EncodingError),
}

impl fmt::Display for AddressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Inputs are shown escaped and cut (see `Excerpt`).
        match self {
            Self::Empty => f.write_str("empty address"),
            Self::InvalidCharacter { input, character } => write!(
                f,
                "invalid character {character:?} (U+{:04X}) in address {}",
                *character as u32,
                Excerpt(input)
            ),
            Self::MissingAt(input) => write!(f, "address {} has no '@'", Excerpt(input)),
            Self::InvalidLocalPart(input) => {
                write!(f, "invalid local part in address {}", Excerpt(input))
            }
            Self::InvalidDomain(input) => write!(f, "invalid domain in address {}", Excerpt(input)),
            Self::TooLong(input) => write!(
                f,
                "address {} is too long (RFC 5321 limits)",
                Excerpt(input)
            ),
            Self::NameTooLong(len) => write!(
                f,
                "a display name of {len} octets is longer than the {} allowed",
                crate::header::MAX_VALUE_LEN
            ),
            Self::NotSingleMailbox(input) => {
                write!(f, "expected exactly one mailbox, got {}", Excerpt(input))
            }
            Self::RequiresSmtpUtf8(input) => write!(
                f,
                "address {} has a non-ASCII local part and needs UTF-8 headers (SMTPUTF8)",
                Excerpt(input)
            ),
            Self::Unparsable(input) => write!(f, "cannot parse address list {}", Excerpt(input)),
            Self::Encoding(e) => write!(f, "cannot encode display name: {e}"),
        }
    }
}

impl std::error::Error for AddressError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Encoding(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EncodingError> for AddressError {
    fn from(e: EncodingError) -> Self {
        Self::Encoding(e)
    }
}

/// One address as emailjs's / nodemailer's `addressparser` returns it.
///
/// Missing parts are empty strings, as in those libraries (where a group
/// without a name has `name: undefined`, this has `""`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedAddress {
    /// `{name, address}`; either may be empty, and `address` is not validated.
    Mailbox {
        /// The display name (or comment), possibly empty.
        name: String,
        /// The address as found, possibly empty or invalid.
        address: String,
    },
    /// `{name, group: [...]}`.
    Group {
        /// The group's display name, possibly empty.
        name: String,
        /// The group's members (nested groups are possible in this lenient form).
        members: Vec<ParsedAddress>,
    },
}

/// One entry of an address header: a mailbox or a group of mailboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AddressEntry {
    /// A single mailbox.
    Mailbox(Mailbox),
    /// A named group, e.g. `team: a@x, b@y;` or `undisclosed-recipients:;`.
    Group {
        /// The group's display name.
        name: String,
        /// Its members (possibly none).
        members: Vec<Mailbox>,
    },
}

/// A validated address list, as in a `To`, `Cc` or `From` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressList(pub Vec<AddressEntry>);

impl AddressList {
    /// Parses an RFC 5322 address list strictly.
    ///
    /// Mailboxes (`a@b`, `Name <a@b>`, `a@b (Name)`), groups, `,` or `;`
    /// between entries, empty list elements and the obsolete forms of RFC
    /// 5322 §4.4 (routes, CFWS around dots) are accepted; every address is
    /// validated as for [`Mailbox::new`]. Any invalid address is an error:
    /// nothing is dropped or repaired. An empty (or whitespace-only) input
    /// gives an empty list.
    ///
    /// Unlike [`parse_address_list`], forms that only a lenient reader
    /// accepts (`Name a@b` without angle brackets, a bare name without
    /// address, text after `>`) are errors.
    pub fn parse(input: &str) -> Result<AddressList, AddressError> {
        parse::parse_strict(input).map(AddressList)
    }

    /// All mailboxes, including group members, in order.
    pub fn mailboxes(&self) -> impl Iterator<Item = &Mailbox> {
        self.0.iter().flat_map(|entry| match entry {
            AddressEntry::Mailbox(m) => std::slice::from_ref(m).iter(),
            AddressEntry::Group { members, .. } => members.iter(),
        })
    }

    /// The first mailbox (a group's first member counts), as
    /// `mailboxes().next()` gives it, in one small loop.
    #[inline(never)]
    pub(crate) fn first_mailbox(&self) -> Option<&Mailbox> {
        for entry in &self.0 {
            match entry {
                AddressEntry::Mailbox(m) => return Some(m),
                AddressEntry::Group { members, .. } => {
                    if let Some(m) = members.first() {
                        return Some(m);
                    }
                }
            }
        }
        None
    }

    /// Whether a mailbox of the list (a group member included) has a
    /// local part only SMTPUTF8 can carry.
    #[inline(never)]
    pub(crate) fn requires_smtputf8(&self) -> bool {
        self.0.iter().any(|entry| match entry {
            AddressEntry::Mailbox(m) => m.requires_smtputf8(),
            AddressEntry::Group { members, .. } => members.iter().any(Mailbox::requires_smtputf8),
        })
    }

    /// True when the list has no entries (an empty group is an entry).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends an entry.
    pub fn push(&mut self, entry: AddressEntry) {
        self.0.push(entry);
    }
}

impl std::str::FromStr for AddressList {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl From<Mailbox> for AddressList {
    fn from(m: Mailbox) -> Self {
        AddressList(vec![AddressEntry::Mailbox(m)])
    }
}

#[cfg(test)]
mod tests;
