//! The composition workloads of issue 7 (W1–W3), generated deterministically.
//!
//! Self-contained on purpose: every input is defined here in a few lines of
//! plain code from one PRNG and a few word lists, with nothing taken from a
//! crate. The other benches follow the same shapes and sizes, not the same
//! octets: `benches/node/bench.mjs` has its own generator (mulberry32, its
//! own word lists, a subject per message), and the W4 senders
//! (`benches/smtp/senders.rs`, `benches/node/w4.mjs`) send one fixed W1 text.
//!
//! # PRNG
//!
//! SplitMix64 (all arithmetic modulo 2^64):
//!
//! ```text
//! next(): state += 0x9E3779B97F4A7C15
//!         z = state
//!         z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
//!         z = (z ^ (z >> 27)) * 0x94D049BB133111EB
//!         return z ^ (z >> 31)
//! below(n) = next() % n
//! ```
//!
//! # Text
//!
//! `text(rng, words, max_bytes, dot_line)`: words are drawn with
//! `words[below(len)]` and joined by single spaces into lines; a word that
//! would take a non-empty line past 72 bytes (UTF-8 octets) ends the line
//! and is discarded (the next line starts with a new draw). Every line ends with `\n` (LF only: each library must make CRLF of
//! it). When `dot_line` is `Some(k)`, line `k` (from 0) starts with `.`
//! before its first word. Lines are added while the text plus the next line
//! stays within `max_bytes`; the text is at most `max_bytes` octets.
//!
//! `html(rng, words, max_bytes)`: `<html><body>\n`, then paragraphs
//! `<p>` + line + `</p>\n` (lines made as for `text`, without the `\n`),
//! while the whole, with the closing `</body></html>\n`, stays within
//! `max_bytes`.
//!
//! # Workloads
//!
//! * **W1** (seed 1): From `Alice Sender <alice@example.com>`, To
//!   `Bob Receiver <bob@example.org>`, Subject
//!   `Quarterly numbers for the northern region, part 7`, text
//!   `text(ASCII_WORDS, 2048, Some(3))`. No HTML, no attachment.
//! * **W2** (seed 2): From `Zoë Ångström <zoe@example.com>`, To
//!   `山田 太郎 <taro@example.jp>`, Subject: 80 characters, each
//!   `SUBJECT_CHARS[below(len)]` (Unicode scalar values), text
//!   `text(UTF8_WORDS, 4096, None)`, HTML `html(UTF8_WORDS, 8192)`.
//! * **W3** (seed 3): W1's addresses, Subject `Files for the audit`, text
//!   `text(ASCII_WORDS, 2048, None)`, HTML `html(ASCII_WORDS, 8192)`, then
//!   two attachments: `data.bin` (`application/octet-stream`), 10 MiB of
//!   random bytes (each `next()` gives 8 bytes, little-endian), and
//!   `notes.txt` (`text/plain`, each library picking its charset),
//!   `text(MOSTLY_ASCII_WORDS, 1 MiB, None)`.
//!
//! The generators run in this order on the workload's one PRNG: W2 subject,
//! text, HTML; W3 text, HTML, binary, notes.

// Not every bench binary uses every item.
#![allow(dead_code)]

/// SplitMix64.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// 32 ASCII words.
pub const ASCII_WORDS: &[&str] = &[
    "the", "report", "numbers", "quarter", "region", "sales", "growth", "team", "review", "plan",
    "budget", "meeting", "notes", "draft", "final", "update", "project", "status", "results",
    "market", "customer", "product", "launch", "summary", "figures", "trend", "forecast", "and",
    "for", "with", "from", "about",
];

/// 32 words, one of them not ASCII (`naïve`): text that is mostly ASCII.
pub const MOSTLY_ASCII_WORDS: &[&str] = &[
    "the", "report", "numbers", "quarter", "region", "sales", "growth", "team", "review", "plan",
    "budget", "meeting", "notes", "draft", "final", "update", "project", "status", "results",
    "market", "customer", "product", "launch", "summary", "figures", "trend", "forecast", "and",
    "for", "with", "from", "naïve",
];

/// 32 UTF-8 words: Latin with diacritics, Japanese, Chinese, Korean, emoji.
pub const UTF8_WORDS: &[&str] = &[
    "Grüße",
    "café",
    "naïve",
    "Ångström",
    "façade",
    "señor",
    "déjà",
    "vu",
    "日本語",
    "テキスト",
    "東京",
    "報告書",
    "四半期",
    "売上",
    "会議",
    "メール",
    "中文",
    "测试",
    "邮件",
    "北京",
    "한국어",
    "서울",
    "안녕하세요",
    "📈",
    "✓",
    "🚀",
    "report",
    "numbers",
    "the",
    "and",
    "Zoë",
    "Ελληνικά",
];

/// Characters of the W2 subject: CJK and emoji.
pub const SUBJECT_CHARS: &[char] = &[
    '日', '本', '語', '四', '半', '期', '報', '告', '書', '売', '上', '会', '議', '東', '京', '中',
    '文', '测', '试', '邮', '件', '北', '京', '한', '국', '어', '📈', '✓', '🚀', '😀', '🎉', '✉',
];

/// One workload's inputs.
#[derive(Clone, Debug)]
pub struct Input {
    /// `(display name, address)`.
    pub from: (&'static str, &'static str),
    pub to: (&'static str, &'static str),
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    pub attachments: Vec<AttachmentInput>,
}

/// An attachment: a file name, a media type and its content.
#[derive(Clone, Debug)]
pub struct AttachmentInput {
    pub filename: &'static str,
    pub content_type: &'static str,
    pub data: Data,
}

/// Attachment content.
#[derive(Clone, Debug)]
pub enum Data {
    Binary(Vec<u8>),
    Text(String),
}

impl Data {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Data::Binary(b) => b,
            Data::Text(t) => t.as_bytes(),
        }
    }
}

/// The words of one line (without its `\n`), at most 72 octets unless a
/// single word is longer.
fn line(rng: &mut Rng, words: &[&str], dot: bool) -> String {
    let mut line = String::new();
    if dot {
        line.push('.');
    }
    loop {
        let word = words[rng.below(words.len())];
        let starts = line.is_empty() || line == ".";
        if !starts && line.len() + 1 + word.len() > 72 {
            // The word is dropped; the next line starts with a fresh draw.
            return line;
        }
        if !starts {
            line.push(' ');
        }
        line.push_str(word);
    }
}

/// See the module documentation.
pub fn text(rng: &mut Rng, words: &[&str], max_bytes: usize, dot_line: Option<usize>) -> String {
    let mut out = String::with_capacity(max_bytes);
    let mut k = 0;
    loop {
        let l = line(rng, words, dot_line == Some(k));
        if out.len() + l.len() + 1 > max_bytes {
            return out;
        }
        out.push_str(&l);
        out.push('\n');
        k += 1;
    }
}

/// See the module documentation.
pub fn html(rng: &mut Rng, words: &[&str], max_bytes: usize) -> String {
    const HEAD: &str = "<html><body>\n";
    const TAIL: &str = "</body></html>\n";
    let mut out = String::with_capacity(max_bytes);
    out.push_str(HEAD);
    loop {
        let l = line(rng, words, false);
        if out.len() + "<p></p>\n".len() + l.len() + TAIL.len() > max_bytes {
            out.push_str(TAIL);
            return out;
        }
        out.push_str("<p>");
        out.push_str(&l);
        out.push_str("</p>\n");
    }
}

/// `len` random bytes, 8 per `next()`, little-endian.
pub fn binary(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn w1() -> Input {
    let mut rng = Rng::new(1);
    Input {
        from: ("Alice Sender", "alice@example.com"),
        to: ("Bob Receiver", "bob@example.org"),
        subject: "Quarterly numbers for the northern region, part 7".into(),
        text: text(&mut rng, ASCII_WORDS, 2048, Some(3)),
        html: None,
        attachments: Vec::new(),
    }
}

pub fn w2() -> Input {
    let mut rng = Rng::new(2);
    let subject = (0..80)
        .map(|_| SUBJECT_CHARS[rng.below(SUBJECT_CHARS.len())])
        .collect();
    let text = text(&mut rng, UTF8_WORDS, 4096, None);
    let html = html(&mut rng, UTF8_WORDS, 8192);
    Input {
        from: ("Zoë Ångström", "zoe@example.com"),
        to: ("山田 太郎", "taro@example.jp"),
        subject,
        text,
        html: Some(html),
        attachments: Vec::new(),
    }
}

/// W3's binary attachment size.
pub const W3_BINARY: usize = 10 << 20;
/// W3's text attachment size (at most).
pub const W3_NOTES: usize = 1 << 20;

pub fn w3() -> Input {
    let mut rng = Rng::new(3);
    let text = text(&mut rng, ASCII_WORDS, 2048, None);
    let html = html(&mut rng, ASCII_WORDS, 8192);
    let data = binary(&mut rng, W3_BINARY);
    let notes = self::text(&mut rng, MOSTLY_ASCII_WORDS, W3_NOTES, None);
    Input {
        from: ("Alice Sender", "alice@example.com"),
        to: ("Bob Receiver", "bob@example.org"),
        subject: "Files for the audit".into(),
        text,
        html: Some(html),
        attachments: vec![
            AttachmentInput {
                filename: "data.bin",
                content_type: "application/octet-stream",
                data: Data::Binary(data),
            },
            AttachmentInput {
                filename: "notes.txt",
                content_type: "text/plain",
                data: Data::Text(notes),
            },
        ],
    }
}
