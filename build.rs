//! Build script: generates the per-order constants (and, with the kernel table, the SIMD
//! microkernels) into OUT_DIR.

#[path = "build/orders.rs"]
mod orders;

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
    orders::generate(&out);
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build/orders.rs");
}
