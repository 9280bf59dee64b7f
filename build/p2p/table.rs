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
    /// Names of the kernel's run-time parameters (f64, in this order), e.g. `kappa`.
    pub params: &'static [&'static str],
    /// Statements computed once per call from the parameters, in scalar f64, before the loops
    /// (their names, like the parameters', are then broadcast to every lane).
    pub setup: &'static [&'static str],
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
        params: &[],
        setup: &[],
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
        params: &[],
        setup: &[],
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
    KernelSpec {
        ident: "yukawa3d",
        camel: "Yukawa3d",
        doc: "modified Helmholtz (Yukawa) 3D, `K(x, y) = exp(-kappa |x - y|) / (4 pi |x - y|)`",
        dim: 3,
        params: &["kappa"],
        setup: &["neg_kappa = neg(kappa)"],
        phi_scale: "1.0 / (4.0 * core::f64::consts::PI)",
        grad_scale: "-1.0 / (4.0 * core::f64::consts::PI)",
        potential: &[
            "inv_r = masked(rsqrt(r2))",
            "r = mul(r2, inv_r)",
            "e_inv_r = mul(exp(mul(neg_kappa, r)), inv_r)",
            "phi = fma(q, e_inv_r, phi)",
        ],
        // grad exp(-kappa r) / r = -exp(-kappa r) (1 + kappa r) / r^3 (x - y).
        gradient: &[
            "inv_r = masked(rsqrt(r2))",
            "r = mul(r2, inv_r)",
            "q_e_inv_r = mul(q, mul(exp(mul(neg_kappa, r)), inv_r))",
            "phi = add(phi, q_e_inv_r)",
            "c = mul(mul(q_e_inv_r, fma(kappa, r, one)), mul(inv_r, inv_r))",
            "g{k} = fma(c, d{k}, g{k})",
        ],
    },
];

pub const PRECISIONS: &[&str] = &["f32", "f64"];
