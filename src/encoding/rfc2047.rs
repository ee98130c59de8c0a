//! RFC 2047 encoded words.
