//! The measurements of `oxifmm bench-report`: one setting built, evaluated and checked against
//! the direct sum, operator precomputation, and the process's memory.

use std::path::Path;
use std::time::{Duration, Instant};

use oxifmm::points::{Distribution, generate, values};
use oxifmm::{CacheMode, Expansion, Fmm, Kernel, Real, SupportedOrder};

use crate::cli::Fail;
use crate::operators::precompute;

/// Resets the process's peak resident set size (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak_rss() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size (VmHWM) in bytes, on Linux.
fn peak_rss() -> Option<u64> {
    status_kb("VmHWM:")
}

/// Current resident set size (VmRSS) in bytes, on Linux.
fn rss() -> Option<u64> {
    status_kb("VmRSS:")
}

fn status_kb(key: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

pub fn mib(b: u64) -> f64 {
    b as f64 / (1u64 << 20) as f64
}

/// One row of the parameter table.
pub struct Row {
    pub kernel: String,
    pub n: usize,
    pub dist: &'static str,
    pub precision: &'static str,
    pub order: usize,
    pub leaf: usize,
    pub build: f64,
    pub eval: f64,
    pub error: f64,
    pub peak_rss: Option<u64>,
    pub fmm_bytes: usize,
    pub ops: Vec<(&'static str, Duration)>,
}

/// Builds and evaluates one setting of `kernel` (labelled `label`); the error is the relative
/// L2 error of the potential against the direct sum (f64) at `samples` evenly spaced targets.
/// Charges are uniform in [-1, 1] (real and imaginary parts for a complex kernel). A kernel
/// with per-level operators is built once before the timed build, so that build loads them
/// from the cache as a homogeneous kernel's does.
pub fn bench_case<const P: usize, T: Real, K: Kernel<3>>(
    kernel: &K,
    label: &str,
    n: usize,
    dist: Distribution,
    leaf: usize,
    samples: usize,
    cache: &CacheMode,
) -> Result<Row, Fail>
where
    Expansion<P, 3>: SupportedOrder,
{
    let pts = generate::<T, 3>(dist, n, 42);
    let q = values::<K::Value<T>>(n, 43);
    let build = || {
        Fmm::<K, P, 3, T>::with_kernel(kernel.clone())
            .sources(&pts)
            .max_points_per_leaf(leaf)
            .cache(cache.clone())
            .build()
    };
    if !matches!(kernel.scaling(), oxifmm::Scaling::Homogeneous { .. }) {
        drop(build()?);
    }
    let rss_reset = reset_peak_rss();
    let base = rss();
    let t0 = Instant::now();
    let fmm = build()?;
    let build = t0.elapsed().as_secs_f64();
    let t0 = Instant::now();
    let out = fmm.evaluate(&q)?;
    let eval = t0.elapsed().as_secs_f64();
    let ops = fmm.last_report().map(|r| r.operators).unwrap_or_default();
    let br = fmm.build_report();
    let fmm_bytes = br.tree_bytes + br.lists_bytes + br.operator_bytes + br.workspace_bytes;
    let peak = match (rss_reset, base, peak_rss()) {
        (true, Some(b), Some(p)) => Some(p.saturating_sub(b)),
        _ => None,
    };
    drop(fmm);
    let error = oxifmm::sampled_error(kernel, &pts, &q, &pts, &out.potentials, samples.max(1))?;
    Ok(Row {
        kernel: label.to_string(),
        n,
        dist: match dist {
            Distribution::Uniform => "uniform",
            Distribution::Sphere => "sphere",
            Distribution::Clusters => "clusters",
        },
        precision: T::PRECISION.name(),
        order: P,
        leaf,
        build,
        eval,
        error,
        peak_rss: peak,
        fmm_bytes,
        ops,
    })
}

/// Operator precomputation (fresh cache dir: computed and saved) and reload (mmap) times.
pub fn bench_precompute<const P: usize, T: Real>(dir: &Path) -> Result<(f64, f64), Fail>
where
    Expansion<P, 3>: SupportedOrder,
{
    let mode = CacheMode::Dir(dir.to_path_buf());
    let (_, _, computed) = precompute(P, T::PRECISION, &mode)?;
    let (_, _, loaded) = precompute(P, T::PRECISION, &mode)?;
    Ok((computed.as_secs_f64(), loaded.as_secs_f64()))
}

pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into())
}
