//! Media types: validation of user-given types and a compact table that
//! guesses a type from a file name's extension.

/// Guesses a media type from a file name's extension (case-insensitive);
/// `application/octet-stream` when the extension is unknown or missing.
pub fn guess_from_filename(filename: &str) -> &'static str {
    let ext = match filename.rsplit_once('.') {
        Some((_, ext)) if !ext.is_empty() => ext,
        _ => return OCTET_STREAM,
    };
    TABLE
        .iter()
        .find(|(e, _)| e.eq_ignore_ascii_case(ext))
        .map_or(OCTET_STREAM, |(_, t)| t)
}

/// The type of bytes whose nature is unknown.
pub const OCTET_STREAM: &str = "application/octet-stream";

const TABLE: &[(&str, &str)] = &[
    ("txt", "text/plain"),
    ("text", "text/plain"),
    ("log", "text/plain"),
    ("csv", "text/csv"),
    ("tsv", "text/tab-separated-values"),
    ("htm", "text/html"),
    ("html", "text/html"),
    ("css", "text/css"),
    ("md", "text/markdown"),
    ("ics", "text/calendar"),
    ("vcf", "text/vcard"),
    ("xml", "application/xml"),
    ("json", "application/json"),
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("pdf", "application/pdf"),
    ("rtf", "application/rtf"),
    ("zip", "application/zip"),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("bz2", "application/x-bzip2"),
    ("xz", "application/x-xz"),
    ("7z", "application/x-7z-compressed"),
    ("rar", "application/vnd.rar"),
    ("doc", "application/msword"),
    (
        "docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xls", "application/vnd.ms-excel"),
    (
        "xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("ppt", "application/vnd.ms-powerpoint"),
    (
        "pptx",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    ("odp", "application/vnd.oasis.opendocument.presentation"),
    ("epub", "application/epub+zip"),
    ("wasm", "application/wasm"),
    ("eml", "message/rfc822"),
    ("gif", "image/gif"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("jpe", "image/jpeg"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("svg", "image/svg+xml"),
    ("bmp", "image/bmp"),
    ("ico", "image/vnd.microsoft.icon"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("heic", "image/heic"),
    ("mp3", "audio/mpeg"),
    ("wav", "audio/wav"),
    ("ogg", "audio/ogg"),
    ("oga", "audio/ogg"),
    ("m4a", "audio/mp4"),
    ("flac", "audio/flac"),
    ("mp4", "video/mp4"),
    ("m4v", "video/mp4"),
    ("webm", "video/webm"),
    ("ogv", "video/ogg"),
    ("mov", "video/quicktime"),
    ("avi", "video/x-msvideo"),
    ("ttf", "font/ttf"),
    ("otf", "font/otf"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
];

/// Whether a part of this (normalised) media type may only be sent 7bit
/// (RFC 2046 §5.2.2 and §5.2.3: `message/partial` and
/// `message/external-body`, even where 8BITMIME would allow 8bit).
pub(crate) fn is_seven_bit_only(media_type: &str) -> bool {
    matches!(media_type, "message/partial" | "message/external-body")
}

/// Whether a (normalised) media type is `multipart/*`: multiparts are
/// made by the builder from parts, never one part's own type.
pub(crate) fn is_multipart(media_type: &str) -> bool {
    media_type.starts_with("multipart/")
}

/// Whether a part of this (normalised) media type may only be sent 7bit or
/// 8bit: `message/*` (RFC 2045 §6.4, RFC 2046 §5.2), but for the RFC 6532
/// and RFC 6533 `message/global*` types, which may be encoded.
pub(crate) fn is_unencodable_message(media_type: &str) -> bool {
    media_type
        .strip_prefix("message/")
        .is_some_and(|sub| !sub.starts_with("global"))
}

/// Checks a `type/subtype` media type (RFC 2045 tokens, no parameters) and
/// returns it in lower case; `None` when it is malformed.
pub fn normalize(media_type: &str) -> Option<String> {
    // Only spaces and tabs are trimmed: a line break is an error.
    let (ty, sub) = media_type.trim_matches([' ', '\t']).split_once('/')?;
    let is_token = |s: &str| {
        !s.is_empty()
            && s.len() <= 127
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b))
    };
    (is_token(ty) && is_token(sub)).then(|| format!("{ty}/{sub}").to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guesses_common_types() {
        assert_eq!(guess_from_filename("smtp.GIF"), "image/gif");
        assert_eq!(guess_from_filename("report.final.pdf"), "application/pdf");
        assert_eq!(
            guess_from_filename("postfix-2.8.7.tar.gz"),
            "application/gzip"
        );
        assert_eq!(guess_from_filename("README"), OCTET_STREAM);
        assert_eq!(guess_from_filename("weird."), OCTET_STREAM);
        assert_eq!(guess_from_filename("ünï.côdé"), OCTET_STREAM);
    }

    #[test]
    fn validates_media_types() {
        assert_eq!(normalize("Image/PNG").as_deref(), Some("image/png"));
        assert_eq!(normalize(" text/plain ").as_deref(), Some("text/plain"));
        for bad in [
            "text",
            "text/",
            "/plain",
            "text/plain; charset=x",
            "te xt/plain",
            "a/b\r\nX: y",
            "text/html\n",
            "\r\ntext/html",
            "image/png\r",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }
}
