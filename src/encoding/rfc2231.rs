//! RFC 2231 parameters.
