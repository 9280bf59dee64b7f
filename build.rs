//! The build script: a driver over the generators in `build/`, which write Rust source into
//! `OUT_DIR` for the crate to `include!`:
//!
//! - `build/p2p/`: the kernel table (each built-in kernel's formula, written once), its
//!   statement language and the emitter of the SIMD P2P microkernels and scalar evaluations;
//! - `build/orders.rs`: the supported expansion orders (the one list), the order trait's
//!   implementations and the run-time order dispatch;
//! - `build/gemm.rs`: fixed-inner-dimension dense kernels per 3D surface size;
//! - `build/hadamard.rs`: the FFT M2L's Hadamard-product kernels per 3D order.

use std::path::Path;

#[path = "build/gemm.rs"]
mod gemm;
#[path = "build/hadamard.rs"]
mod hadamard;
#[path = "build/orders.rs"]
mod orders;
#[path = "build/p2p/mod.rs"]
mod p2p;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=build");
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let out_dir = Path::new(&out_dir);
    orders::generate(out_dir);
    let (lo3, hi3) = orders::range(3);
    hadamard::generate(out_dir, lo3, hi3);
    // Dense microkernels: run-time inner dimension (1) and the surface size of every 3D order.
    let mut ks = vec![1];
    ks.extend((lo3..=hi3).map(|p| orders::surface_len(3, p)));
    gemm::generate(out_dir, &ks);
    let path = p2p::generate(out_dir);
    // Formatting is for readers of the generated file only; ignore failure.
    let _ =
        std::process::Command::new(std::env::var("RUSTFMT").unwrap_or_else(|_| "rustfmt".into()))
            .args(["--edition", "2024"])
            .arg(&path)
            .status();
}
