//! Where things are: the workspace's binaries (next to the running test executable), the repository
//! root, and the external programs a test needs, found on PATH or failed with a hint at how to get
//! them.

use std::path::{Path, PathBuf};

/// Where the workspace's binaries are: next to this test executable's `deps/` directory, unless
/// `TW_BIN_DIR` says otherwise.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("TW_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe.parent().expect("deps dir");
    deps.parent().expect("profile dir").to_path_buf()
}

pub fn binary(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(
        p.is_file(),
        "{} not found: build it first (`cargo build --bins`, or `make test` does it)",
        p.display()
    );
    p
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Finds a program on PATH or fails the test saying how to get it.
pub fn require_tool(name: &str, hint: &str) -> PathBuf {
    for dir in std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
    {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!("{name} is required for this test but was not found on PATH: {hint}");
}
