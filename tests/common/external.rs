//! Runs the parsers we did not write (Python's `email`, npm `mailparser`)
//! over a corpus directory of `NAME.eml` + `NAME.json` pairs.

use std::path::Path;
use std::process::Command;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs one checker; returns its output, or panics with it when it fails.
fn run(program: &str, script: &str, dir: &Path) -> String {
    let output = Command::new(program)
        .arg(repo().join(script))
        .arg(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {program} ({e}); run scripts/setup.sh to install the test tools")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "{script} failed on {}:\n{text}",
        dir.display()
    );
    text
}

/// Checks the corpus with Python's `email` package (policy.default).
pub fn check_python(dir: &Path) -> String {
    run("python3", "tests/parsers/check_python.py", dir)
}

/// Checks the corpus with npm `mailparser`.
pub fn check_mailparser(dir: &Path) -> String {
    assert!(
        repo().join("tests/node/node_modules/mailparser").exists(),
        "tests/node/node_modules/mailparser is missing; run scripts/setup.sh"
    );
    run("node", "tests/parsers/check_mailparser.mjs", dir)
}
