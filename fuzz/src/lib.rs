//! Checks shared by the fuzz targets. Everything here is written from the
//! RFCs, independently of mimeograph's own code, so that a target compares
//! mimeograph against a second opinion rather than against itself.

/// The longest line RFC 5322 §2.1.1 allows, without its CRLF.
pub const MAX_LINE: usize = 998;

/// Panics unless every CR in `bytes` is followed by LF and every LF is
/// preceded by CR.
pub fn assert_crlf_only(bytes: &[u8], what: &str) {
    if let Some(i) = bare_cr_or_lf(bytes) {
        let from = i.saturating_sub(40);
        let to = (i + 40).min(bytes.len());
        panic!(
            "{what}: bare CR or LF at octet {i}: {:?}",
            String::from_utf8_lossy(&bytes[from..to])
        );
    }
}

/// Index of the first bare CR or bare LF.
pub fn bare_cr_or_lf(bytes: &[u8]) -> Option<usize> {
    (0..bytes.len()).find(|&i| match bytes[i] {
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        b'\n' => i == 0 || bytes[i - 1] != b'\r',
        _ => false,
    })
}

/// The lines of CRLF-only text, without their CRLF (a last line without
/// CRLF is included when not empty).
pub fn crlf_lines(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        match rest.windows(2).position(|w| w == b"\r\n") {
            Some(p) => {
                out.push(&rest[..p]);
                rest = &rest[p + 2..];
            }
            None => {
                out.push(rest);
                break;
            }
        }
    }
    out
}

/// Panics unless every line is at most 998 octets.
pub fn assert_line_lengths(bytes: &[u8], what: &str) {
    for (n, line) in crlf_lines(bytes).iter().enumerate() {
        assert!(
            line.len() <= MAX_LINE,
            "{what}: line {n} has {} octets: {:?}",
            line.len(),
            String::from_utf8_lossy(&line[..80.min(line.len())])
        );
    }
}

/// Bare CR and bare LF become CRLF (RFC 5321 §2.3.8); CRLF stays.
pub fn normalize_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// Checks one rendered header field (`Name: value CRLF`, maybe folded):
/// CRLF only, ends with CRLF, lines of at most 998 octets, every line
/// after the first a continuation (starting with SP or HTAB), so no line
/// can pass for a header of its own. Returns the unfolded value (RFC 5322
/// §2.2.3: the CRLFs removed), after `Name:`.
pub fn check_header_field(field: &[u8], name: &str) -> String {
    assert_crlf_only(field, name);
    assert!(field.ends_with(b"\r\n"), "{name}: no final CRLF");
    let body = &field[..field.len() - 2];
    for (n, line) in crlf_lines(body).iter().enumerate() {
        assert!(
            line.len() <= MAX_LINE,
            "{name}: line {n} has {} octets",
            line.len()
        );
        if n > 0 {
            assert!(
                matches!(line.first(), Some(b' ' | b'\t')),
                "{name}: line {n} is not a continuation (header injection): {:?}",
                String::from_utf8_lossy(line)
            );
            assert!(
                line.iter().any(|b| !matches!(b, b' ' | b'\t')),
                "{name}: line {n} is whitespace only (ends the header block for some readers)"
            );
        }
    }
    let prefix = format!("{name}:");
    assert!(
        body.starts_with(prefix.as_bytes()),
        "{name}: field does not start with its name: {:?}",
        String::from_utf8_lossy(&body[..body.len().min(80)])
    );
    let unfolded: Vec<u8> = crlf_lines(body).concat();
    String::from_utf8(unfolded[prefix.len()..].to_vec())
        .unwrap_or_else(|e| panic!("{name}: header is not UTF-8: {e}"))
}

/// Maps LF-only and CRLF line ends to LF, for comparing decoded text.
pub fn lf(s: &str) -> String {
    s.replace("\r\n", "\n")
}
pub mod server;
