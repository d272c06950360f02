//! Files from an override directory (`--www`, `--beacon`), read at request time so an
//! edited page shows on reload.
//!
//! The path was already checked by [`super::path`] (no dotfiles, no `..`). Here the file
//! is also resolved through its symlinks and served only when the real path is still
//! below the directory's own real path and has no dot segment there: a symlink in the
//! served tree pointing at `/etc` or at `.git` answers 404 like a missing file.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// What a directory holds at a relative path.
pub enum Found {
    /// A regular file: its bytes and an ETag from its length and modification time.
    File {
        /// The bytes.
        bytes: Vec<u8>,
        /// `"<len>-<mtime ns>"` in hex, quoted.
        etag: String,
    },
    /// A directory (served through its `index.html` after a redirect to `…/`).
    Dir,
    /// Nothing that may be served.
    Missing,
}

/// Looks `rel` up below `root` (which need not be canonical).
pub async fn find(root: &Path, rel: &str) -> Found {
    let Ok(root) = tokio::fs::canonicalize(root).await else {
        return Found::Missing;
    };
    let Ok(real) = tokio::fs::canonicalize(root.join(rel)).await else {
        return Found::Missing;
    };
    if !inside(&root, &real) {
        return Found::Missing;
    }
    let Ok(meta) = tokio::fs::metadata(&real).await else {
        return Found::Missing;
    };
    if meta.is_dir() {
        return Found::Dir;
    }
    if !meta.is_file() {
        return Found::Missing;
    }
    let Ok(bytes) = tokio::fs::read(&real).await else {
        return Found::Missing;
    };
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    Found::File {
        etag: format!("\"{:x}-{mtime:x}\"", bytes.len()),
        bytes,
    }
}

/// Whether the real path `real` lies below `root` with no dot segment on the way.
fn inside(root: &Path, real: &Path) -> bool {
    real.strip_prefix(root).is_ok_and(|below: &Path| {
        below
            .components()
            .all(|c| !c.as_os_str().to_string_lossy().starts_with('.'))
    })
}

/// The problem with `dir` as an override directory, if any: it must exist and be a
/// directory.
pub fn check(dir: &Path) -> Result<(), String> {
    if dir.is_dir() {
        Ok(())
    } else {
        Err(format!("{}: no such directory", dir.display()))
    }
}

/// The first of `files` that `dir` lacks (`main` warns about a beacon directory without
/// the built files).
pub fn missing(dir: &Path, files: &[&str]) -> Option<PathBuf> {
    files.iter().map(|f| dir.join(f)).find(|p| !p.is_file())
}
