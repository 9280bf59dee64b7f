//! Generates the FFT M2L Hadamard-product microkernels (`hadamard.rs` in OUT_DIR): one per
//! 3D expansion order and precision, with the order's frequency-grid sizes fixed at compile
//! time and the 8 source children of a sibling block unrolled.

use std::fmt::Write;

/// Frequencies per `kx` plane that one pass of the kernel handles together: their `8 x 8`
/// blocks (`JB * 27 KiB` in f64) and the matching spectra of the task stay in L2.
const JB: usize = 4;

/// The kernel, with `__T__` (f32/f64), `__UP__` (F32/F64), `__P__`, `__NF__`, `__N__`,
/// `__PLANE__`, `__JB__` and `__SC__` (the unrolled source-child products) to fill in.
const TEMPLATE: &str = r#"
/// Hadamard products of one FFT M2L task at order __P__ (__NF__ frequencies, `__N__` planes of
/// __PLANE__), `__T__`: `accum[kx][tp][j][tc] = sum_(T, sc) M_T[f][sc][tc] spec[kx][slot(tp, T)][j][sc]`,
/// `f = kx * __PLANE__ + j`, in complex arithmetic (see the module docs for the layouts).
#[inline(always)]
pub(crate) fn hadamard___T___p__P__<S: pulp::Simd>(simd: S, h: HadamardArgs<'_, __T__>) {
    const N: usize = __N__;
    const PLANE: usize = __PLANE__;
    const JB: usize = __JB__;
    let lanes = S::__UP___LANES;
    if lanes > 8 || 8 % lanes != 0 {
        return hadamard_plain(h, N, PLANE);
    }
    let nv = 8 / lanes;
    let HadamardArgs { accum, spec, m, gre, gim, nt, ns, ntp, slots, used, pair_table } = h;
    assert!(
        spec.len() >= N * PLANE * ns * 16
            && accum.len() >= N * PLANE * ntp * 16
            && gre.len() >= N * PLANE * nt
            && gim.len() >= N * PLANE * nt
            && m.len() >= JB * 27 * 128
            && slots.len() >= ntp * 27
            && pair_table.len() >= 27 * 64
    );
    let zero = simd.splat___T__s(0.0);
    for kx in 0..N {
        let sk = &spec[kx * ns * PLANE * 16..(kx + 1) * ns * PLANE * 16];
        let ak = &mut accum[kx * ntp * PLANE * 16..(kx + 1) * ntp * PLANE * 16];
        for jb in (0..PLANE).step_by(JB) {
            // The 8 x 8 blocks of these JB frequencies for every parent offset in use.
            for jj in 0..JB {
                let f = kx * PLANE + jb + jj;
                let (gr, gi) = (&gre[f * nt..(f + 1) * nt], &gim[f * nt..(f + 1) * nt]);
                for ti in 0..27 {
                    if !used[ti] {
                        continue;
                    }
                    let mt = &mut m[(jj * 27 + ti) * 128..(jj * 27 + ti + 1) * 128];
                    for (pair, &tv) in pair_table[ti * 64..(ti + 1) * 64].iter().enumerate() {
                        let (sc, tc) = (pair / 8, pair % 8);
                        let (vr, vi) = if tv == u32::MAX {
                            (0.0, 0.0)
                        } else {
                            (gr[tv as usize], gi[tv as usize])
                        };
                        mt[sc * 16 + tc] = vr;
                        mt[sc * 16 + 8 + tc] = vi;
                    }
                }
            }
            for tp in 0..ntp {
                for jj in 0..JB {
                    let j = jb + jj;
                    let (mut xr, mut yr, mut xi, mut yi) = ([zero; 8], [zero; 8], [zero; 8], [zero; 8]);
                    for ti in 0..27 {
                        let sp = slots[tp * 27 + ti];
                        if sp == u32::MAX {
                            continue;
                        }
                        let at = (sp as usize * PLANE + j) * 16;
                        let q: &[__T__; 16] = sk[at..at + 16].try_into().unwrap();
                        let mb: &[__T__; 128] =
                            m[(jj * 27 + ti) * 128..(jj * 27 + ti + 1) * 128].try_into().unwrap();
__SC__
                    }
                    let at = (tp * PLANE + j) * 16;
                    let (a_re, a_im) = ak[at..at + 16].split_at_mut(8);
                    let (are, _) = S::as_mut_simd___T__s(a_re);
                    let (aim, _) = S::as_mut_simd___T__s(a_im);
                    for v in 0..nv {
                        are[v] = simd.sub___T__s(xr[v], yr[v]);
                        aim[v] = simd.add___T__s(xi[v], yi[v]);
                    }
                }
            }
        }
    }
}
"#;

fn kernel(s: &mut String, p: usize, t: &str) {
    let n = 2 * p;
    let plane = n * (n / 2 + 1);
    assert_eq!(plane % JB, 0, "JB must divide the plane size");
    let mut sc_blocks = String::new();
    for sc in 0..8 {
        writeln!(
            sc_blocks,
            "                        {{
                            let (qr, qi) = (simd.splat_{t}s(q[{sc}]), simd.splat_{t}s(q[{qi}]));
                            let (mr, _) = S::as_simd_{t}s(&mb[{a}..{b}]);
                            let (mi, _) = S::as_simd_{t}s(&mb[{b}..{c}]);
                            for v in 0..nv {{
                                xr[v] = simd.mul_add_e_{t}s(mr[v], qr, xr[v]);
                                yr[v] = simd.mul_add_e_{t}s(mi[v], qi, yr[v]);
                                xi[v] = simd.mul_add_e_{t}s(mr[v], qi, xi[v]);
                                yi[v] = simd.mul_add_e_{t}s(mi[v], qr, yi[v]);
                            }}
                        }}",
            qi = 8 + sc,
            a = sc * 16,
            b = sc * 16 + 8,
            c = sc * 16 + 16
        )
        .unwrap();
    }
    let code = TEMPLATE
        .replace("__T__", t)
        .replace("__UP__", &t.to_uppercase())
        .replace("__P__", &p.to_string())
        .replace("__NF__", &(n * plane).to_string())
        .replace("__N__", &n.to_string())
        .replace("__PLANE__", &plane.to_string())
        .replace("__JB__", &JB.to_string())
        .replace("__SC__", sc_blocks.trim_end());
    s.push_str(&code);
}

pub fn generate(out_dir: &std::path::Path, lo: usize, hi: usize) {
    let mut s = String::new();
    writeln!(
        s,
        "// @generated by build.rs (build/hadamard.rs): FFT M2L Hadamard microkernels, 3D orders {lo}..={hi}.\n"
    )
    .unwrap();
    writeln!(
        s,
        "/// Frequencies per pass of the generated kernels (their scratch `m` holds `HADAMARD_JB * 27 * 128` values).\npub(crate) const HADAMARD_JB: usize = {JB};\n"
    )
    .unwrap();
    for p in lo..=hi {
        for t in ["f32", "f64"] {
            kernel(&mut s, p, t);
        }
    }
    for t in ["f32", "f64"] {
        writeln!(
            s,
            "/// Runs the order-`order` `{t}` kernel (orders {lo}..={hi}); `false` for other orders.\n#[inline(always)]\npub(crate) fn run_{t}<S: pulp::Simd>(simd: S, order: usize, h: HadamardArgs<'_, {t}>) -> bool {{\n    match order {{"
        )
        .unwrap();
        for p in lo..=hi {
            writeln!(s, "        {p} => hadamard_{t}_p{p}(simd, h),").unwrap();
        }
        writeln!(s, "        _ => return false,\n    }}\n    true\n}}\n").unwrap();
    }
    std::fs::write(out_dir.join("hadamard.rs"), s).unwrap();
}
