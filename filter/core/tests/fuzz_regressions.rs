//! Replays every input under `testdata/fuzz/<target>/` — the seeds of the cargo-fuzz targets and
//! every crash they found, each a named file — through the same entry points (`llmfw_core::fuzzing`).
//! A crash found by `make fuzz` is added here as a file and must never come back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn every_fuzz_regression_input_runs_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz");
    let mut replayed = 0;
    for (name, entry) in llmfw_core::fuzzing::TARGETS {
        let dir = root.join(name);
        let Ok(files) = std::fs::read_dir(&dir) else {
            continue;
        };
        for file in files.flatten() {
            let data = std::fs::read(file.path()).expect("read regression input");
            entry(&data);
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no fuzz regression inputs under {}",
        root.display()
    );
}
