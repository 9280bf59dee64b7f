//! The statement language of the kernel table, and its translation into pulp SIMD calls
//! (for the microkernels) and into scalar f64 code (for `Kernel::eval`).
//!
//! Each kernel's formula is written once, in the kernel table (`table.rs`), in a tiny
//! statement language, and expanded into one pulp `WithSimd` microkernel per precision (f32,
//! f64) and per output (potential, potential + gradient), and into its scalar f64 evaluation.
//! Adding a kernel means adding a type that implements `Kernel<D>` and an entry in the table.
//!
//! The statement language (one statement per string):
//!
//! - `name = expr` binds a new value; when `name` is an accumulator (`phi`, `g{k}`) it updates it.
//! - A statement containing `{k}` is repeated for every dimension `k` in `0..D`.
//! - A complex kernel (`complex: true`) has the charge `qr`, `qi` and the accumulators
//!   `phi_re`, `phi_im`, `g{k}_re`, `g{k}_im` instead of `q`, `phi`, `g{k}`.
//! - Values in scope in the source loop: `q` (the source's charge, broadcast), `d{k}` (target
//!   minus source, coordinate `k`), `r2` (squared distance), the accumulators `phi` and, in the
//!   gradient variant, `g{k}`.
//! - Also in scope: the kernel's parameters and the names its `setup` statements bind (computed
//!   once per call in scalar f64, then broadcast), and the constant `one`.
//! - Operations: `add(a, b)`, `sub(a, b)`, `mul(a, b)`, `fma(a, b, c)` (`a * b + c`), `neg(x)`,
//!   `rsqrt(x)` (`1 / sqrt(x)`), `recip(x)` (`1 / x`), `ln(x)` (natural log), `exp(x)`,
//!   `s, c = sincos(x)` (two results) and `masked(x)`
//!   (`x` where `r2` is at least the smallest normal number, else exactly 0, via the mask
//!   `coincident`: this is how self-interaction is removed without a branch).
//!
//! After the source loop, `phi` is scaled by `phi_scale` and each `g{k}` by `grad_scale`, and the
//! results are added to the output.

use std::fmt::Write as _;

use super::table::KernelSpec;

/// The statements of one variant, with `{k}` statements repeated per dimension and each
/// right-hand side rewritten by `rhs`: `let name{suffix} = ...;` for a new value, `acc = ...;`
/// for an accumulator (`phi`, `g{k}`).
fn expand(
    spec: &KernelSpec,
    gradients: bool,
    suffix: &str,
    rhs: impl Fn(&str, &[String]) -> String,
) -> String {
    let src = if gradients {
        spec.gradient
    } else {
        spec.potential
    };
    let accumulators = accumulators(spec, gradients);
    let mut out = String::new();
    for stmt in src {
        let copies: Vec<String> = if stmt.contains("{k}") {
            (0..spec.dim)
                .map(|k| stmt.replace("{k}", &k.to_string()))
                .collect()
        } else {
            vec![stmt.to_string()]
        };
        for s in copies {
            let (lhs, expr) = s.split_once('=').expect("statement is `name = expr`");
            let lhs = lhs.trim();
            let expr = rhs(expr.trim(), &accumulators);
            if lhs.contains(',') {
                // `a, b = op(..)`: an operation with two results (`sincos`).
                let names: Vec<String> = lhs
                    .split(',')
                    .map(|n| format!("{}{suffix}", n.trim()))
                    .collect();
                writeln!(out, "let ({}) = {expr};", names.join(", ")).unwrap();
            } else if accumulators.iter().any(|a| a == lhs) {
                writeln!(out, "{lhs} = {expr};").unwrap();
            } else {
                writeln!(out, "let {lhs}{suffix} = {expr};").unwrap();
            }
        }
    }
    out
}

/// The accumulators of one variant: `phi` and `g{k}`, or for a complex kernel their real and
/// imaginary parts `phi_re`, `phi_im`, `g{k}_re`, `g{k}_im`, in output order.
pub fn accumulators(spec: &KernelSpec, gradients: bool) -> Vec<String> {
    let mut names = vec!["phi".to_string()];
    if gradients {
        names.extend((0..spec.dim).map(|k| format!("g{k}")));
    }
    if spec.complex {
        names
            .into_iter()
            .flat_map(|n| [format!("{n}_re"), format!("{n}_im")])
            .collect()
    } else {
        names
    }
}

/// Rewrites an expression token by token: `call(name)` gives the text that replaces the
/// operation `name(` (up to and including its opening parenthesis), `ident(name)` the text
/// that replaces any other identifier; everything else is copied.
fn rewrite(expr: &str, call: impl Fn(&str) -> String, ident: impl Fn(&str) -> String) -> String {
    let mut out = String::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            if chars.get(i) == Some(&'(') {
                out.push_str(&call(&name));
                i += 1; // the '('
            } else {
                out.push_str(&ident(&name));
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn unknown(op: &str) -> ! {
    panic!("unknown operation `{op}` in kernel table")
}

/// Expands `{k}` statements and translates the statement language into pulp calls (or the
/// helpers of `src/kernel/simd.rs`), for one source stream: every local name gets `suffix`
/// (`_a`, `_b` or empty), the accumulators do not. `rsqrt(r2)` is read from
/// `rsqrt_r2{suffix}`, which the caller computes (see `emit::variant`).
pub fn statements(spec: &KernelSpec, t: &str, gradients: bool, suffix: &str) -> String {
    let globals = globals(spec);
    expand(spec, gradients, suffix, |expr, accumulators| {
        rewrite(
            &expr.replace("rsqrt(r2)", "rsqrt_r2"),
            |op| match op {
                "add" | "sub" | "mul" => format!("simd.{op}_{t}s("),
                "fma" => format!("simd.mul_add_e_{t}s("),
                "neg" => format!("simd.neg_{t}s("),
                "rsqrt" | "recip" | "ln" | "exp" | "sincos" => format!("{op}_{t}s(simd, "),
                "masked" => format!("simd.select_{t}s(coincident{suffix}, zero, "),
                other => unknown(other),
            },
            |name| {
                if accumulators.iter().any(|a| a == name) || globals.iter().any(|g| g == name) {
                    name.to_string()
                } else {
                    format!("{name}{suffix}")
                }
            },
        )
    })
}

/// The names in scope in every statement that are the same for all sources: the parameters,
/// the names the setup statements bind, and `one`.
pub fn globals(spec: &KernelSpec) -> Vec<String> {
    let mut g: Vec<String> = spec.params.iter().map(|p| p.to_string()).collect();
    g.extend(spec.setup.iter().map(|s| {
        s.split_once('=')
            .expect("setup is `name = expr`")
            .0
            .trim()
            .to_string()
    }));
    g.push("one".to_string());
    g
}

/// The setup statements as scalar f64 code (`let name = ...;`).
pub fn setup_statements(spec: &KernelSpec) -> String {
    let mut out = String::new();
    for stmt in spec.setup {
        let (lhs, expr) = stmt.split_once('=').expect("setup is `name = expr`");
        writeln!(out, "let {} = {};", lhs.trim(), scalar_expr(expr.trim())).unwrap();
    }
    out
}

/// One expression of the statement language as scalar f64 code.
fn scalar_expr(expr: &str) -> String {
    rewrite(
        expr,
        |op| match op {
            "add" | "sub" | "mul" | "fma" | "neg" | "rsqrt" | "recip" | "ln" | "exp" | "sincos" => {
                format!("sc_{op}(")
            }
            "masked" => "sc_masked(coincident, ".to_string(),
            other => unknown(other),
        },
        str::to_string,
    )
}

/// Whether a kernel's statements use `rsqrt(r2)` (then it is computed for two sources at once).
pub fn uses_rsqrt_r2(spec: &KernelSpec, gradients: bool) -> bool {
    let src = if gradients {
        spec.gradient
    } else {
        spec.potential
    };
    src.iter().any(|s| s.contains("rsqrt(r2)"))
}

/// The statements of one variant as scalar f64 code: operations become calls of the `sc_*`
/// helpers that `emit::scalar_helpers` emits, and `masked` reads the local `coincident`.
pub fn scalar_statements(spec: &KernelSpec, gradients: bool) -> String {
    expand(spec, gradients, "", |expr, _| scalar_expr(expr))
}
