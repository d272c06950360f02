//! The beacon and the site as they were when this binary was compiled: the tables
//! `collector/build.rs` generates with `include_bytes!`, so a copied binary serves them
//! with no files beside it.

mod generated {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

/// A table of embedded files: `(path relative to the tree's root, bytes, quoted ETag)`.
pub type Table = &'static [(&'static str, &'static [u8], &'static str)];

/// `beacon/pkg`: `spoor.js` and `spoor_bg.wasm`, or nothing when the beacon was not built.
pub const BEACON: Table = generated::BEACON;

/// `www/`: the demo site and the dashboard (dotfiles and symlinks left out).
pub const WWW: Table = generated::WWW;

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// The bytes.
    pub bytes: &'static [u8],
    /// Its ETag (quoted), from a hash of the bytes taken at build time.
    pub etag: &'static str,
}

/// The file at `path` (relative, `/`-separated) in `table`, if there.
pub fn file(table: Table, path: &str) -> Option<Embedded> {
    table
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|&(_, bytes, etag)| Embedded { bytes, etag })
}

/// Whether `path` is a directory holding files of `table`.
pub fn is_dir(table: Table, path: &str) -> bool {
    let prefix = format!("{}/", path.trim_end_matches('/'));
    table.iter().any(|(p, _, _)| p.starts_with(&prefix))
}

/// Whether the built beacon was embedded: false when `scripts/build-beacon.sh` had not run
/// before this binary was compiled.
pub fn has_beacon() -> bool {
    !BEACON.is_empty()
}
