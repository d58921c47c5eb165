//! Tiny image layers (gzip-compressed tars) and the digests that name them.

use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};

/// The `sha256:<hex>` digest of some bytes, as registries and image configs write it.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A compressed layer ready to upload, with the digest of its uncompressed tar.
pub struct Layer {
    /// The gzip-compressed tar, as uploaded to the registry.
    pub compressed: Vec<u8>,
    /// The sha256 of the uncompressed tar: the `rootfs.diff_ids` entry of the config.
    pub diff_id: String,
}

/// A layer holding one regular file at `path` (relative, e.g. `seed`) with `contents`.
///
/// The engine unpacks it on pull, so images made from such layers can be pulled for real.
pub fn single_file(path: &str, contents: &[u8]) -> Layer {
    let mut header = tar::Header::new_ustar();
    header.set_size(contents.len() as u64);
    header.set_mode(0o644);
    // A fixed timestamp keeps a layer's digest a function of its contents alone.
    header.set_mtime(0);
    header.set_entry_type(tar::EntryType::Regular);
    let mut builder = tar::Builder::new(Vec::new());
    builder
        .append_data(&mut header, path, contents)
        .expect("tar into memory");
    let tar = builder.into_inner().expect("tar into memory");

    let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
    gzip.write_all(&tar).expect("gzip into memory");
    let compressed = gzip.finish().expect("gzip into memory");
    Layer {
        compressed,
        diff_id: sha256(&tar),
    }
}
