//! The composer's corpus: every feature of the builder in at least one
//! message, each checked by structure and read back by three parsers we did
//! not write (the `mail-parser` crate here, Python's `email` and npm
//! `mailparser` over the written corpus).

mod common;

use common::corpus::corpus;
use common::*;
use std::path::PathBuf;

fn corpus_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("corpus");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn corpus_reads_back_in_three_parsers() {
    let specs = corpus();
    assert!(specs.len() >= 30, "the corpus has {} messages", specs.len());
    let dir = corpus_dir();
    let mut failures = Vec::new();
    for spec in &specs {
        let (message, bytes) = spec.render();
        let utf8 = spec
            .opts
            .map_or(message.requires_smtputf8(), |o| o.utf8_headers);
        for p in structural_problems(&bytes, utf8) {
            failures.push(format!("{}: structure: {p}", spec.name));
        }
        let expect = spec.expectation(&message);
        for p in mail_parser_problems(&bytes, &expect) {
            failures.push(format!("{}: mail-parser: {p}", spec.name));
        }
        std::fs::write(dir.join(format!("{}.eml", spec.name)), &bytes).unwrap();
        std::fs::write(
            dir.join(format!("{}.json", spec.name)),
            serde_json::to_vec_pretty(&expect).unwrap(),
        )
        .unwrap();
    }
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{}", external::check_python(&dir));
    println!("{}", external::check_mailparser(&dir));
}

#[test]
fn deterministic_mode_repeats_byte_for_byte() {
    for spec in corpus().iter().filter(|s| !matches!(s.name, "streams")) {
        assert_eq!(spec.render().1, spec.render().1, "{}", spec.name);
    }
}

#[test]
fn sizes_are_exact_and_chunks_match_to_bytes() {
    for spec in corpus() {
        let message = spec.build();
        let opts = spec.opts.unwrap_or_else(|| message.default_options());
        let predicted = message.encoded_len(opts);
        let mut from_chunks = Vec::new();
        let mut written = Vec::new();
        if spec.name == "streams" {
            for chunk in message.chunks(opts).unwrap() {
                from_chunks.extend(chunk.unwrap());
            }
            // A stream is read once.
            assert!(message.to_bytes_with(opts).is_err());
            assert_eq!(predicted, None, "streams without a length have no size");
            continue;
        }
        for chunk in message.chunks(opts).unwrap() {
            from_chunks.extend(chunk.unwrap());
        }
        message.write_to_with(&mut written, opts).unwrap();
        let bytes = message.to_bytes_with(opts).unwrap();
        assert_eq!(from_chunks, bytes, "{}", spec.name);
        assert_eq!(written, bytes, "{}", spec.name);
        assert_eq!(predicted, Some(bytes.len() as u64), "{}", spec.name);
    }
}
