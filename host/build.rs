//! Builds an organisation's relay and CA into the host: with
//! `LIFELINE_RELAY=relay.example.com:4433` and `LIFELINE_CA=/path/ca.pem`
//! set at build time, the user runs one file with no options.

#[path = "src/builtin_source.rs"]
mod builtin_source;

fn main() {
    println!("cargo:rerun-if-env-changed=LIFELINE_RELAY");
    println!("cargo:rerun-if-env-changed=LIFELINE_CA");
    println!("cargo:rerun-if-changed=src/builtin_source.rs");
    let relay = std::env::var("LIFELINE_RELAY")
        .ok()
        .filter(|r| !r.is_empty());
    let ca = std::env::var("LIFELINE_CA")
        .ok()
        .filter(|c| !c.is_empty())
        .map(|path| {
            println!("cargo:rerun-if-changed={path}");
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("LIFELINE_CA={path}: cannot read it: {e}"))
        });
    let source = builtin_source::source(relay.as_deref(), ca.as_deref())
        .unwrap_or_else(|why| panic!("{why}"));
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let path = std::path::Path::new(&out).join("builtin.rs");
    std::fs::write(&path, source)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
