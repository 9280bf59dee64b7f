//! Emits the generated Rust: one pulp `WithSimd` microkernel per kernel, precision and output,
//! the per-kernel entry point that dispatches among them, and the scalar f64 evaluations.

use std::fmt::Write as _;

use super::language::{accumulators, globals, setup_statements, statements, uses_rsqrt_r2};
use super::table::{KernelSpec, PRECISIONS};

/// `Laplace3d` + `F64` + `Gradient`.
fn struct_name(spec: &KernelSpec, t: &str, gradients: bool) -> String {
    format!(
        "{}{}{}",
        spec.camel,
        t.to_uppercase(),
        if gradients { "Gradient" } else { "Potential" }
    )
}

/// `laplace3d_f64_gradient`.
fn fn_name(spec: &KernelSpec, t: &str, gradients: bool) -> String {
    format!(
        "{}_{}_{}",
        spec.ident,
        t,
        if gradients { "gradient" } else { "potential" }
    )
}

/// The start of the source-loop body for one source stream: the broadcast charge, the
/// differences, the squared distance and the coincidence mask. `index` selects the source in the
/// two-source chunk (`q[index]`), or `None` for the single-source loop (`q`).
fn stream_prelude(
    spec: &KernelSpec,
    dims: &[usize],
    t: &str,
    suffix: &str,
    index: Option<usize>,
) -> String {
    let at = index.map(|i| format!("[{i}]")).unwrap_or_default();
    let mut s = String::new();
    if spec.complex {
        // Interleaved charges: the chunk's source `i` is `q[2i], q[2i + 1]`; the single
        // source `q[0], q[1]`.
        let i = index.unwrap_or(0);
        writeln!(s, "let qr{suffix} = simd.splat_{t}s(q[{}]);", 2 * i).unwrap();
        writeln!(s, "let qi{suffix} = simd.splat_{t}s(q[{}]);", 2 * i + 1).unwrap();
    } else {
        writeln!(s, "let q{suffix} = simd.splat_{t}s(q{at});").unwrap();
    }
    for k in dims {
        writeln!(
            s,
            "let d{k}{suffix} = simd.sub_{t}s(t{k}, simd.splat_{t}s(x{k}{at}));"
        )
        .unwrap();
    }
    let mut r2 = format!("simd.mul_{t}s(d0{suffix}, d0{suffix})");
    for k in &dims[1..] {
        r2 = format!("simd.mul_add_e_{t}s(d{k}{suffix}, d{k}{suffix}, {r2})");
    }
    writeln!(s, "let r2{suffix} = {r2};").unwrap();
    writeln!(
        s,
        "// Lanes where the source coincides with the target contribute exactly 0."
    )
    .unwrap();
    writeln!(
        s,
        "let coincident{suffix} = simd.less_than_{t}s(r2{suffix}, tiny);"
    )
    .unwrap();
    s
}

/// `params: [f64; N], ` for a kernel with `N` parameters, else nothing: the leading parameter
/// of the generated functions.
fn params_arg(spec: &KernelSpec) -> String {
    if spec.params.is_empty() {
        String::new()
    } else {
        format!("params: [f64; {}], ", spec.params.len())
    }
}

/// `params, ` when the kernel has parameters, else nothing.
fn params_pass(spec: &KernelSpec) -> &'static str {
    if spec.params.is_empty() {
        ""
    } else {
        "params, "
    }
}

/// Binds the parameters and the setup statements in scalar f64 (`let kappa = params[0];`).
fn scalar_globals(spec: &KernelSpec) -> String {
    let mut s = String::new();
    for (i, p) in spec.params.iter().enumerate() {
        writeln!(s, "let {p} = params[{i}];").unwrap();
    }
    s.push_str(&setup_statements(spec));
    s
}

/// One microkernel: the `WithSimd` struct and its `#[inline(always)]` body.
pub fn variant(spec: &KernelSpec, t: &str, gradients: bool) -> String {
    let d = spec.dim;
    let name = struct_name(spec, t, gradients);
    let body = fn_name(spec, t, gradients);
    let width = if gradients { 1 + d } else { 1 };
    let lanes = if t == "f32" { "F32_LANES" } else { "F64_LANES" };
    let what = if gradients {
        "potential and gradient"
    } else {
        "potential"
    };
    let dims: Vec<usize> = (0..d).collect();
    let mut s = String::new();

    // The struct.
    writeln!(
        s,
        "/// P2P microkernel: {}, {t}, {what}.\n///\n/// Accumulates into `out` (`{width}` value(s) per target{}). Points are structure of arrays.",
        spec.doc,
        if gradients {
            ", interleaved `[phi, grad..]`"
        } else {
            ""
        }
    )
    .unwrap();
    writeln!(s, "pub struct {name}<'a> {{").unwrap();
    if !spec.params.is_empty() {
        writeln!(
            s,
            "/// The kernel's parameters: {}.",
            spec.params.join(", ")
        )
        .unwrap();
        writeln!(s, "pub params: [f64; {}],", spec.params.len()).unwrap();
    }
    writeln!(s, "/// `sources[k][j]`: coordinate `k` of source `j`.").unwrap();
    writeln!(s, "pub sources: [&'a [{t}]; {d}],").unwrap();
    writeln!(s, "/// One charge per source.").unwrap();
    writeln!(s, "pub charges: &'a [{t}],").unwrap();
    writeln!(s, "/// `targets[k][i]`: coordinate `k` of target `i`.").unwrap();
    writeln!(s, "pub targets: [&'a [{t}]; {d}],").unwrap();
    writeln!(s, "/// `{width}` value(s) per target, accumulated into.").unwrap();
    writeln!(s, "pub out: &'a mut [{t}],").unwrap();
    writeln!(s, "}}\n").unwrap();

    writeln!(s, "impl pulp::WithSimd for {name}<'_> {{").unwrap();
    writeln!(s, "type Output = ();").unwrap();
    writeln!(s, "#[inline(always)]").unwrap();
    writeln!(s, "fn with_simd<S: pulp::Simd>(self, simd: S) {{").unwrap();
    writeln!(
        s,
        "{body}(simd, {}self.sources, self.charges, self.targets, self.out)",
        if spec.params.is_empty() {
            ""
        } else {
            "self.params, "
        }
    )
    .unwrap();
    writeln!(s, "}}\n}}\n").unwrap();

    // The body.
    writeln!(
        s,
        "/// Body of [`{name}`]: targets in SIMD lanes, sources streamed and broadcast."
    )
    .unwrap();
    writeln!(s, "#[inline(always)]").unwrap();
    writeln!(
        s,
        "fn {body}<S: pulp::Simd>(simd: S, {}sources: [&[{t}]; {d}], charges: &[{t}], targets: [&[{t}]; {d}], out: &mut [{t}]) {{",
        params_arg(spec)
    )
    .unwrap();
    // Parameters and setup in scalar f64, then broadcast (rounded once to `t`).
    s.push_str(&scalar_globals(spec));
    for g in globals(spec) {
        let value = match (g.as_str(), t) {
            ("one", _) => "1.0".to_string(),
            (_, "f64") => g.clone(),
            _ => format!("{g} as {t}"),
        };
        writeln!(
            s,
            "#[allow(unused_variables)]\nlet {g} = simd.splat_{t}s({value});"
        )
        .unwrap();
    }
    writeln!(s, "let lanes = S::{lanes};").unwrap();
    writeln!(s, "debug_assert!(lanes <= MAX_LANES);").unwrap();
    writeln!(s, "let zero = simd.splat_{t}s(0.0);").unwrap();
    // Squared distances below the smallest normal number count as coincident: their
    // reciprocal square roots (and logs) would overflow or lose all accuracy.
    writeln!(s, "let tiny = simd.splat_{t}s({t}::MIN_POSITIVE);").unwrap();
    // The scales are f64 expressions, rounded once to `t`.
    let scale = |e: &str| {
        if t == "f64" {
            e.to_string()
        } else {
            format!("({e}) as {t}")
        }
    };
    writeln!(s, "let phi_scale = {};", scale(spec.phi_scale)).unwrap();
    if gradients {
        writeln!(s, "let grad_scale = {};", scale(spec.grad_scale)).unwrap();
    }
    // Reals per charge: 2 for interleaved complex charges.
    let cr = if spec.complex { 2 } else { 1 };
    if spec.complex {
        writeln!(s, "let ns = charges.len() / 2;").unwrap();
    } else {
        writeln!(s, "let ns = charges.len();").unwrap();
    }
    for k in &dims {
        writeln!(s, "let s{k} = &sources[{k}][..ns];").unwrap();
    }
    writeln!(s, "let nt = targets[0].len();").unwrap();
    writeln!(s, "let mut start = 0;").unwrap();
    writeln!(s, "while start < nt {{").unwrap();
    writeln!(
        s,
        "// A block of up to `lanes` targets; the last one is padded with zeros."
    )
    .unwrap();
    writeln!(s, "let n = lanes.min(nt - start);").unwrap();
    for k in &dims {
        writeln!(
            s,
            "let t{k} = simd.partial_load_{t}s(&targets[{k}][start..start + n]);"
        )
        .unwrap();
    }
    let accs = accumulators(spec, gradients);
    for a in &accs {
        writeln!(s, "let mut {a} = zero;").unwrap();
    }
    // Source loop, two sources per iteration (so that `1/sqrt(r2)` can share one division
    // between them), then the odd one out.
    let rsqrt = uses_rsqrt_r2(spec, gradients);
    let mut pat = "q".to_string();
    let mut iter = format!("charges.chunks_exact({})", 2 * cr);
    for k in &dims {
        pat = format!("({pat}, x{k})");
        iter = format!("{iter}.zip(s{k}.chunks_exact(2))");
    }
    writeln!(s, "for {pat} in {iter} {{").unwrap();
    for (suffix, idx) in [("_a", 0), ("_b", 1)] {
        s.push_str(&stream_prelude(spec, &dims, t, suffix, Some(idx)));
    }
    if rsqrt {
        writeln!(
            s,
            "let (rsqrt_r2_a, rsqrt_r2_b) = rsqrt2_{t}s(simd, r2_a, r2_b);"
        )
        .unwrap();
    }
    s.push_str(&statements(spec, t, gradients, "_a"));
    s.push_str(&statements(spec, t, gradients, "_b"));
    writeln!(s, "}}").unwrap();

    writeln!(s, "let tail = ns - ns % 2;").unwrap();
    let (mut pat, mut iter) = if spec.complex {
        (
            "q".to_string(),
            "charges[2 * tail..].chunks_exact(2)".to_string(),
        )
    } else {
        ("&q".to_string(), "charges[tail..].iter()".to_string())
    };
    for k in &dims {
        pat = format!("({pat}, &x{k})");
        iter = format!("{iter}.zip(&s{k}[tail..])");
    }
    writeln!(s, "for {pat} in {iter} {{").unwrap();
    s.push_str(&stream_prelude(spec, &dims, t, "", None));
    if rsqrt {
        writeln!(s, "let rsqrt_r2 = rsqrt_{t}s(simd, r2);").unwrap();
    }
    s.push_str(&statements(spec, t, gradients, ""));
    writeln!(s, "}}").unwrap();

    // Write back through a stack buffer (no allocation): one row per accumulator, in output
    // order (interleaved `re, im` for a complex kernel).
    let reals = accs.len();
    writeln!(s, "let mut buf = [[0.0_{t}; MAX_LANES]; {reals}];").unwrap();
    for (i, a) in accs.iter().enumerate() {
        writeln!(s, "simd.partial_store_{t}s(&mut buf[{i}][..lanes], {a});").unwrap();
    }
    if reals > 1 {
        writeln!(
            s,
            "for (l, o) in out[{reals} * start..{reals} * (start + n)].chunks_exact_mut({reals}).enumerate() {{"
        )
        .unwrap();
        for (i, a) in accs.iter().enumerate() {
            let scale = if a.starts_with("phi") {
                "phi_scale"
            } else {
                "grad_scale"
            };
            writeln!(s, "o[{i}] += {scale} * buf[{i}][l];").unwrap();
        }
        writeln!(s, "}}").unwrap();
    } else {
        writeln!(
            s,
            "for (o, &v) in out[start..start + n].iter_mut().zip(&buf[0]) {{"
        )
        .unwrap();
        writeln!(s, "*o += phi_scale * v;").unwrap();
        writeln!(s, "}}").unwrap();
    }
    writeln!(s, "start += n;").unwrap();
    writeln!(s, "}}").unwrap();
    writeln!(s, "}}\n").unwrap();
    s
}

/// The generic entry point of one kernel: checks lengths, routes to the microkernel for the
/// precision and output, through pulp's runtime dispatch.
pub fn dispatcher(spec: &KernelSpec) -> String {
    let d = spec.dim;
    let mut s = String::new();
    writeln!(
        s,
        "/// P2P for {}: routes to the generated microkernel for `T` and the output, dispatched at run\n/// time to the best instruction set (AVX-512, AVX2+FMA, NEON or scalar).\n///\n/// # Panics\n///\n/// When the slice lengths do not agree (see [`check_lengths`]).",
        spec.doc
    )
    .unwrap();
    writeln!(
        s,
        "pub fn {}_p2p<T: Real>({}sources: [&[T]; {d}], charges: &[{v}], targets: [&[T]; {d}], out: &mut [{v}], gradients: bool) {{",
        spec.ident,
        params_arg(spec),
        v = if spec.complex { "T::Complex" } else { "T" }
    )
    .unwrap();
    writeln!(
        s,
        "check_lengths(&sources, charges, &targets, out.len(), gradients);"
    )
    .unwrap();
    if spec.complex {
        // The microkernels read and write the interleaved parts.
        writeln!(s, "let charges = <T::Complex as Value>::as_reals(charges);").unwrap();
        writeln!(s, "let out = <T::Complex as Value>::as_reals_mut(out);").unwrap();
    }
    writeln!(s, "let arch = crate::kernel::simd::arch_best();").unwrap();
    writeln!(s, "match T::PRECISION {{").unwrap();
    for t in PRECISIONS {
        let variant = if *t == "f32" { "F32" } else { "F64" };
        writeln!(s, "Precision::{variant} => {{").unwrap();
        writeln!(s, "let sources = sources.map(same::<T, {t}>);").unwrap();
        writeln!(s, "let targets = targets.map(same::<T, {t}>);").unwrap();
        writeln!(s, "let charges = same::<T, {t}>(charges);").unwrap();
        writeln!(s, "let out = same_mut::<T, {t}>(out);").unwrap();
        writeln!(s, "if gradients {{").unwrap();
        writeln!(
            s,
            "arch.dispatch({} {{ {}sources, charges, targets, out }});",
            struct_name(spec, t, true),
            params_pass(spec)
        )
        .unwrap();
        writeln!(s, "}} else {{").unwrap();
        writeln!(
            s,
            "arch.dispatch({} {{ {}sources, charges, targets, out }});",
            struct_name(spec, t, false),
            params_pass(spec)
        )
        .unwrap();
        writeln!(s, "}}").unwrap();
        writeln!(s, "}}").unwrap();
    }
    writeln!(s, "}}").unwrap();
    writeln!(s, "}}\n").unwrap();
    s
}

/// The scalar helpers the f64 evaluations are written in (one per operation of the statement
/// language).
pub fn scalar_helpers() -> String {
    let mut s = String::new();
    for (name, args, body) in [
        ("add", "a: f64, b: f64", "a + b"),
        ("sub", "a: f64, b: f64", "a - b"),
        ("mul", "a: f64, b: f64", "a * b"),
        ("fma", "a: f64, b: f64, c: f64", "a * b + c"),
        ("neg", "x: f64", "-x"),
        ("exp", "x: f64", "x.exp()"),
        ("rsqrt", "x: f64", "1.0 / x.sqrt()"),
        ("recip", "x: f64", "1.0 / x"),
        ("ln", "x: f64", "x.ln()"),
        ("sincos", "x: f64", "x.sin_cos()"),
        (
            "masked",
            "coincident: bool, x: f64",
            "if coincident { 0.0 } else { x }",
        ),
    ] {
        let ret = if name == "sincos" {
            "(f64, f64)"
        } else {
            "f64"
        };
        writeln!(s, "#[inline(always)]\n#[allow(dead_code)] // only the operations a kernel uses are called\nfn sc_{name}({args}) -> {ret} {{ {body} }}\n").unwrap();
    }
    s
}

/// `{ident}_eval(x, y) -> f64` and `{ident}_eval_with_gradient(x, y) -> (f64, [f64; D])`: one
/// pair in f64 from the same statements as the microkernels (the gradient with respect to
/// `x`); exactly 0 where the points coincide (`|x - y|^2` below the smallest normal number).
pub fn scalar_eval(spec: &KernelSpec) -> String {
    let d = spec.dim;
    let v = if spec.complex { "Complex<f64>" } else { "f64" };
    // A value from the accumulator `name` (its `_re`, `_im` parts when complex), scaled.
    let value = |name: &str, scale: &str| {
        if spec.complex {
            format!("Complex::new(({scale}) * {name}_re, ({scale}) * {name}_im)")
        } else {
            format!("({scale}) * {name}")
        }
    };
    let mut s = String::new();
    for gradients in [false, true] {
        let (name, ret, what) = if gradients {
            (
                format!("{}_eval_with_gradient", spec.ident),
                format!("({v}, [{v}; {d}])"),
                "and its gradient with respect to `x`",
            )
        } else {
            (format!("{}_eval", spec.ident), v.to_string(), "")
        };
        writeln!(
            s,
            "/// {}: `K(x, y)` {what} in f64, from the kernel table; 0 where `x` and `y` coincide.",
            spec.doc
        )
        .unwrap();
        writeln!(s, "#[inline]").unwrap();
        writeln!(
            s,
            "pub(crate) fn {name}({}x: &[f64; {d}], y: &[f64; {d}]) -> {ret} {{",
            params_arg(spec)
        )
        .unwrap();
        s.push_str(&scalar_globals(spec));
        writeln!(s, "#[allow(unused_variables)]\nlet one = 1.0f64;").unwrap();
        // A unit charge.
        if spec.complex {
            writeln!(s, "let (qr, qi) = (1.0f64, 0.0f64);").unwrap();
        } else {
            writeln!(s, "let q = 1.0f64;").unwrap();
        }
        for k in 0..d {
            writeln!(s, "let d{k} = x[{k}] - y[{k}];").unwrap();
        }
        let r2: Vec<String> = (0..d).map(|k| format!("d{k} * d{k}")).collect();
        writeln!(s, "let r2 = {};", r2.join(" + ")).unwrap();
        writeln!(s, "let coincident = r2 < f64::MIN_POSITIVE;").unwrap();
        for a in accumulators(spec, gradients) {
            writeln!(s, "let mut {a} = 0.0f64;").unwrap();
        }
        s.push_str(&super::language::scalar_statements(spec, gradients));
        if gradients {
            let g: Vec<String> = (0..d)
                .map(|k| value(&format!("g{k}"), spec.grad_scale))
                .collect();
            writeln!(s, "({}, [{}])", value("phi", spec.phi_scale), g.join(", ")).unwrap();
        } else {
            writeln!(s, "{}", value("phi", spec.phi_scale)).unwrap();
        }
        writeln!(s, "}}\n").unwrap();
    }
    s
}
