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
    /// Complex charges and values: the charge is `qr + i qi`, the accumulators `phi_re`,
    /// `phi_im` (and `g{k}_re`, `g{k}_im`), and charges and outputs are interleaved
    /// `[re, im]` reals.
    pub complex: bool,
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
        complex: false,
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
        complex: false,
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
        complex: false,
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
    KernelSpec {
        ident: "helmholtz3d",
        camel: "Helmholtz3d",
        doc: "Helmholtz 3D, `K(x, y) = exp(i k |x - y|) / (4 pi |x - y|)`, `k = kr + i ki`",
        dim: 3,
        complex: true,
        params: &["kr", "ki"],
        setup: &["nki = neg(ki)"],
        phi_scale: "1.0 / (4.0 * core::f64::consts::PI)",
        grad_scale: "1.0 / (4.0 * core::f64::consts::PI)",
        // G r = exp(-ki r) (cos(kr r) + i sin(kr r)); phi += q G.
        potential: &[
            "inv_r = masked(rsqrt(r2))",
            "r = mul(r2, inv_r)",
            "e = mul(exp(mul(nki, r)), inv_r)",
            "s, c = sincos(mul(kr, r))",
            "gr = mul(e, c)",
            "gi = mul(e, s)",
            "phi_re = fma(qr, gr, phi_re)",
            "phi_re = fma(neg(qi), gi, phi_re)",
            "phi_im = fma(qr, gi, phi_im)",
            "phi_im = fma(qi, gr, phi_im)",
        ],
        // grad G = G (i k r - 1) / r^2 (x - y); with w = q G and f = (i k r - 1) / r^2 =
        // (-(ki r + 1) + i kr r) / r^2, g += w f d.
        gradient: &[
            "inv_r = masked(rsqrt(r2))",
            "r = mul(r2, inv_r)",
            "e = mul(exp(mul(nki, r)), inv_r)",
            "s, c = sincos(mul(kr, r))",
            "gr = mul(e, c)",
            "gi = mul(e, s)",
            "wr = fma(qr, gr, mul(neg(qi), gi))",
            "wi = fma(qr, gi, mul(qi, gr))",
            "phi_re = add(phi_re, wr)",
            "phi_im = add(phi_im, wi)",
            "inv_r2 = mul(inv_r, inv_r)",
            "fr = mul(neg(fma(ki, r, one)), inv_r2)",
            "fi = mul(mul(kr, r), inv_r2)",
            "cr = fma(wr, fr, mul(neg(wi), fi))",
            "ci = fma(wr, fi, mul(wi, fr))",
            "g{k}_re = fma(cr, d{k}, g{k}_re)",
            "g{k}_im = fma(ci, d{k}, g{k}_im)",
        ],
    },
    KernelSpec {
        ident: "helmholtz3d_real",
        camel: "Helmholtz3dReal",
        doc: "Helmholtz 3D with a real wavenumber, `K(x, y) = exp(i kr |x - y|) / (4 pi |x - y|)`",
        dim: 3,
        complex: true,
        params: &["kr"],
        setup: &[],
        phi_scale: "1.0 / (4.0 * core::f64::consts::PI)",
        grad_scale: "1.0 / (4.0 * core::f64::consts::PI)",
        // The same without the decay (no exponential): G r = cos(kr r) + i sin(kr r).
        potential: &[
            "inv_r = masked(rsqrt(r2))",
            "r = mul(r2, inv_r)",
            "s, c = sincos(mul(kr, r))",
            "gr = mul(inv_r, c)",
            "gi = mul(inv_r, s)",
            "phi_re = fma(qr, gr, phi_re)",
            "phi_re = fma(neg(qi), gi, phi_re)",
            "phi_im = fma(qr, gi, phi_im)",
            "phi_im = fma(qi, gr, phi_im)",
        ],
        gradient: &[
            "inv_r = masked(rsqrt(r2))",
            "r = mul(r2, inv_r)",
            "s, c = sincos(mul(kr, r))",
            "gr = mul(inv_r, c)",
            "gi = mul(inv_r, s)",
            "wr = fma(qr, gr, mul(neg(qi), gi))",
            "wi = fma(qr, gi, mul(qi, gr))",
            "phi_re = add(phi_re, wr)",
            "phi_im = add(phi_im, wi)",
            "inv_r2 = mul(inv_r, inv_r)",
            "fr = neg(inv_r2)",
            "fi = mul(mul(kr, r), inv_r2)",
            "cr = fma(wr, fr, mul(neg(wi), fi))",
            "ci = fma(wr, fi, mul(wi, fr))",
            "g{k}_re = fma(cr, d{k}, g{k}_re)",
            "g{k}_im = fma(ci, d{k}, g{k}_im)",
        ],
    },
];

pub const PRECISIONS: &[&str] = &["f32", "f64"];
