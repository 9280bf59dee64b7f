//! The kernel table: every built-in kernel's formula, written once.

/// One kernel's entry in the generator table.
pub struct KernelSpec {
    /// Lower-case identifier prefix of the generated functions, e.g. `laplace3d`.
    pub ident: &'static str,
    /// CamelCase prefix of the generated structs, e.g. `Laplace3d`.
    pub camel: &'static str,
    /// The formula, for the generated doc comments.
    pub doc: &'static str,
    /// Spatial dimension.
    pub dim: usize,
    /// f64 expression of the factor applied to the accumulated potential.
    pub phi_scale: &'static str,
    /// f64 expression of the factor applied to the accumulated gradient.
    pub grad_scale: &'static str,
    /// Statements for the potential-only variant.
    pub potential: &'static [&'static str],
    /// Statements for the potential + gradient variant.
    pub gradient: &'static [&'static str],
}

/// The kernel table: every formula lives here and only here.
pub const KERNELS: &[KernelSpec] = &[
    KernelSpec {
        ident: "laplace3d",
        camel: "Laplace3d",
        doc: "Laplace 3D, `K(x, y) = 1 / (4 pi |x - y|)`",
        dim: 3,
        phi_scale: "1.0 / (4.0 * core::f64::consts::PI)",
        grad_scale: "-1.0 / (4.0 * core::f64::consts::PI)",
        potential: &["inv_r = masked(rsqrt(r2))", "phi = fma(q, inv_r, phi)"],
        gradient: &[
            "inv_r = masked(rsqrt(r2))",
            "q_inv_r = mul(q, inv_r)",
            "phi = add(phi, q_inv_r)",
            "q_inv_r3 = mul(q_inv_r, mul(inv_r, inv_r))",
            "g{k} = fma(q_inv_r3, d{k}, g{k})",
        ],
    },
    KernelSpec {
        ident: "laplace2d",
        camel: "Laplace2d",
        doc: "Laplace 2D, `K(x, y) = -ln(|x - y|) / (2 pi)`",
        dim: 2,
        phi_scale: "-1.0 / (4.0 * core::f64::consts::PI)",
        grad_scale: "-1.0 / (2.0 * core::f64::consts::PI)",
        potential: &["ln_r2 = masked(ln(r2))", "phi = fma(q, ln_r2, phi)"],
        gradient: &[
            "ln_r2 = masked(ln(r2))",
            "phi = fma(q, ln_r2, phi)",
            "q_inv_r2 = mul(q, masked(recip(r2)))",
            "g{k} = fma(q_inv_r2, d{k}, g{k})",
        ],
    },
];

pub const PRECISIONS: &[&str] = &["f32", "f64"];
