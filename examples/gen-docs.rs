//! Rewrites the generated documents (man page, completions, example configuration) from
//! the code: `cargo run --example gen-docs`.

use std::path::Path;

fn main() -> std::io::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (path, text) in imgwatch::docs::generated() {
        let target = root.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&target, text)?;
        println!("wrote {path}");
    }
    Ok(())
}
