//! End-to-end tests of the `oxifmm` binary: generate → run → compare with the direct sum,
//! bad input files (message and exit code), failed outputs (no partial files), HDF5 files.

mod common;
use common::rel_l2;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};

use oxifmm::io::{self, Dtype};
use oxifmm::{Laplace, direct};

const BIN: &str = env!("CARGO_BIN_EXE_oxifmm");

/// A fresh directory under the target's temp directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("oxifmm-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    fn join(&self, s: &str) -> PathBuf {
        self.0.join(s)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One operator cache for all tests, kept between runs in the target's temp directory
/// (precomputing p = 6 in a debug build takes seconds; it is done once).
fn cache_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join("oxifmm-cli-cache");
        std::fs::create_dir_all(&p).unwrap();
        p
    })
}

/// HDF5 opens its files without close-on-exec and locks them. A child process started by one
/// test while another test of this process holds an HDF5 file open inherits that descriptor,
/// and its lock, for its whole run; a CLI run of the other test is then refused the file
/// ("unable to lock file"). So this process never starts a child while it holds an HDF5 file
/// open: both take this lock.
static NO_FORK: Mutex<()> = Mutex::new(());

fn no_fork() -> MutexGuard<'static, ()> {
    NO_FORK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `cmd.output()`, started under [`NO_FORK`].
fn output(cmd: &mut Command) -> Output {
    let child = {
        let _held = no_fork();
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start oxifmm")
    };
    child.wait_with_output().expect("run oxifmm")
}

fn oxifmm(args: &[&str]) -> Output {
    output(Command::new(BIN).args(args).arg("--quiet"))
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        stderr(o)
    );
}

/// Asserts exit code `code` and a one-line error containing every needle.
#[track_caller]
fn assert_fails(o: &Output, code: i32, needles: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {e}");
    assert_eq!(
        e.trim_end().lines().count(),
        1,
        "one-line error expected: {e}"
    );
    for n in needles {
        assert!(e.contains(n), "stderr {e:?} lacks {n:?}");
    }
}

fn points3(flat: &[f64]) -> Vec<[f64; 3]> {
    flat.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
}

/// Potentials and gradients of the direct sum, split.
fn exact(src: &[f64], q: &[f64], tgt: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let out = direct::<Laplace, 3, f64>(&Laplace, &points3(src), q, &points3(tgt), true).unwrap();
    let pot = out.chunks_exact(4).map(|c| c[0]).collect();
    let grad = out
        .chunks_exact(4)
        .flat_map(|c| [c[1], c[2], c[3]])
        .collect();
    (pot, grad)
}

/// Byte offset of `needle` in `hay` (the .npy magic is not UTF-8).
fn find(hay: &[u8], needle: &str) -> usize {
    hay.windows(needle.len())
        .position(|w| w == needle.as_bytes())
        .unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn generate_run_matches_direct_at_order_6() {
    let d = TempDir::new("p6");
    let data = d.join("data");
    assert_ok(&oxifmm(&[
        "generate",
        "--n",
        "5000",
        "--dist",
        "sphere",
        "--seed",
        "3",
        "--out",
        s(&data),
    ]));
    let src = io::read_npy(&io::bundle_file(&data, "sources")).unwrap();
    let q = io::read_npy(&io::bundle_file(&data, "charges")).unwrap();
    assert_eq!(src.shape, [5000, 3]);
    assert_eq!(q.shape, [5000]);
    assert_eq!(src.dtype, Dtype::F64);

    let res = d.join("res");
    let o = output(
        Command::new(BIN)
            .args(["run", "--input"])
            .arg(io::bundle_file(&data, "sources")) // the sources file names the bundle too
            .args([
                "--order",
                "6",
                "--gradients",
                "--threads",
                "2",
                "--cache-dir",
            ])
            .arg(cache_dir())
            .args(["--out", s(&res)]),
    );
    assert_ok(&o);
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in ["build", "P2P", "M2L", "evaluate"] {
        assert!(stdout.contains(needle), "report lacks {needle}: {stdout}");
    }
    let pot = io::read_npy(&io::bundle_file(&res, "potentials")).unwrap();
    let grad = io::read_npy(&io::bundle_file(&res, "gradients")).unwrap();
    assert_eq!(pot.shape, [5000]);
    assert_eq!(grad.shape, [5000, 3]);
    let (ep, eg) = exact(&src.data, &q.data, &src.data);
    let e = rel_l2(&pot.data, &ep);
    assert!(e < 1e-4, "potential error {e:e}");
    let e = rel_l2(&grad.data, &eg);
    assert!(e < 1e-3, "gradient error {e:e}");
}

#[test]
fn separate_targets_f32() {
    let d = TempDir::new("f32");
    let data = d.join("data");
    assert_ok(&oxifmm(&[
        "generate",
        "--n",
        "2000",
        "--n-targets",
        "500",
        "--precision",
        "f32",
        "--out",
        s(&data),
    ]));
    let res = d.join("res");
    assert_ok(&oxifmm(&[
        "run",
        "--input",
        s(&data),
        "--order",
        "4",
        "--leaf",
        "64",
        "--cache-dir",
        s(cache_dir()),
        "--out",
        s(&res),
    ]));
    let p = io::read_problem(&data, None).unwrap();
    assert_eq!(p.dtype, Dtype::F32);
    let pot = io::read_npy(&io::bundle_file(&res, "potentials")).unwrap();
    assert_eq!(pot.dtype, Dtype::F32, "results in the input's precision");
    assert_eq!(pot.shape, [500]);
    let (ep, _) = exact(&p.sources, &p.charges, p.targets.as_ref().unwrap());
    let e = rel_l2(&pot.data, &ep);
    assert!(e < 1e-2, "f32 p=4 error {e:e}");
    assert!(!io::bundle_file(&res, "gradients").exists());
}

/// `oxifmm run` on the bundle `input` with `--kernel kernel`, order 5, gradients, the tests'
/// cache, results into `out`.
fn run_kernel(input: &Path, kernel: &str, out: &Path) -> Output {
    oxifmm(&[
        "run",
        "--input",
        s(input),
        "--kernel",
        kernel,
        "--order",
        "5",
        "--gradients",
        "--cache-dir",
        s(cache_dir()),
        "--out",
        s(out),
    ])
}

#[test]
fn yukawa_kernel_run_matches_direct_and_bad_kernels_are_usage_errors() {
    let d = TempDir::new("yukawa");
    let data = d.join("data");
    assert_ok(&oxifmm(&["generate", "--n", "3000", "--out", s(&data)]));
    let res = d.join("res");
    let run = |kernel: &str, out: &Path| run_kernel(&data, kernel, out);
    assert_ok(&run("yukawa:7.5", &res));
    let p = io::read_problem(&data, None).unwrap();
    let k = oxifmm::Yukawa::new(7.5).unwrap();
    let exact = direct(
        &k,
        &points3(&p.sources),
        &p.charges,
        &points3(&p.sources),
        true,
    )
    .unwrap();
    let ep: Vec<f64> = exact.iter().step_by(4).copied().collect();
    let pot = io::read_npy(&io::bundle_file(&res, "potentials")).unwrap();
    let e = rel_l2(&pot.data, &ep);
    assert!(e < 1e-4, "yukawa p=5 error {e:e}");
    // Laplace is a different answer.
    let lap = d.join("lap");
    assert_ok(&run("laplace", &lap));
    let lp = io::read_npy(&io::bundle_file(&lap, "potentials")).unwrap();
    assert!(rel_l2(&lp.data, &ep) > 0.1);
    for (bad, needle) in [
        ("yukawa:-1", "kappa"),
        ("yukawa", "yukawa:KAPPA"),
        ("yukawa:abc", "number"),
        ("stokes", "unknown kernel"),
    ] {
        let o = run(bad, &d.join("bad"));
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{bad}: {}", stderr(&o));
    }
    let d2 = d.join("d2");
    assert_ok(&oxifmm(&[
        "generate",
        "--n",
        "100",
        "--dim",
        "2",
        "--out",
        s(&d2),
    ]));
    let o = oxifmm(&[
        "run",
        "--input",
        s(&d2),
        "--kernel",
        "yukawa:1",
        "--out",
        s(&d.join("r2")),
    ]);
    assert_fails(&o, 2, &["Yukawa kernel is 3D"]);
}

/// Helmholtz from the command line: complex charges in a `<c16` bundle, complex potentials and
/// gradients out, both against the direct sum; real charges are widened; complex charges for a
/// real kernel and complex coordinates are refused.
#[test]
fn helmholtz_kernel_run_with_complex_charges_matches_direct() {
    use oxifmm::Complex;
    let d = TempDir::new("helmholtz");
    let data = d.join("data");
    assert_ok(&oxifmm(&[
        "generate",
        "--n",
        "3000",
        "--complex",
        "--out",
        s(&data),
    ]));
    let run = run_kernel;
    let res = d.join("res");
    assert_ok(&run(&data, "helmholtz:6,0.5", &res));
    let p = io::read_problem(&data, None).unwrap();
    assert!(p.complex_charges && p.charges.len() == 6000);
    let q: Vec<Complex<f64>> = p
        .charges
        .chunks_exact(2)
        .map(|z| Complex::new(z[0], z[1]))
        .collect();
    let k = oxifmm::Helmholtz::complex(Complex::new(6.0, 0.5)).unwrap();
    let src = points3(&p.sources);
    let exact = direct(&k, &src, &q, &src, true).unwrap();
    let reals = |v: &[Complex<f64>]| v.iter().flat_map(|z| [z.re, z.im]).collect::<Vec<_>>();
    let ep = reals(&exact.iter().step_by(4).copied().collect::<Vec<_>>());
    let eg = reals(
        &exact
            .chunks_exact(4)
            .flat_map(|c| c[1..].to_vec())
            .collect::<Vec<_>>(),
    );
    let pot = io::read_npy(&io::bundle_file(&res, "potentials")).unwrap();
    let grad = io::read_npy(&io::bundle_file(&res, "gradients")).unwrap();
    assert_eq!(
        (pot.dtype, pot.shape.as_slice()),
        (io::Dtype::C128, &[3000][..])
    );
    assert_eq!(
        (grad.dtype, grad.shape.as_slice()),
        (io::Dtype::C128, &[3000, 3][..])
    );
    let (e, eg) = (rel_l2(&pot.data, &ep), rel_l2(&grad.data, &eg));
    assert!(
        e < 1e-4 && eg < 1e-3,
        "helmholtz p=5 error {e:e}, gradient {eg:e}"
    );

    // Real charges for Helmholtz: imaginary part zero.
    let real = d.join("real");
    assert_ok(&oxifmm(&["generate", "--n", "3000", "--out", s(&real)]));
    let rres = d.join("rres");
    assert_ok(&run(&real, "helmholtz:6", &rres));
    let pr = io::read_problem(&real, None).unwrap();
    let qr: Vec<Complex<f64>> = pr.charges.iter().map(|&x| Complex::new(x, 0.0)).collect();
    let k = oxifmm::Helmholtz::new(6.0).unwrap();
    let exact =
        oxifmm::direct(&k, &points3(&pr.sources), &qr, &points3(&pr.sources), false).unwrap();
    let pot = io::read_npy(&io::bundle_file(&rres, "potentials")).unwrap();
    let e = rel_l2(&pot.data, &reals(&exact));
    assert!(e < 1e-4, "helmholtz real charges p=5 error {e:e}");

    // Complex charges and a real kernel; complex coordinates; bad wavenumbers.
    let o = run(&data, "laplace", &d.join("bad"));
    assert_fails(&o, 3, &["charges are complex", "helmholtz"]);
    let cs = d.join("cs");
    std::fs::write(
        io::bundle_file(&cs, "sources"),
        io::encode_npy(&[10, 3], io::Dtype::C128, &vec![0.5; 60]),
    )
    .unwrap();
    std::fs::write(
        io::bundle_file(&cs, "charges"),
        io::encode_npy(&[10], io::Dtype::F64, &[1.0; 10]),
    )
    .unwrap();
    assert_fails(
        &run(&cs, "helmholtz:1", &d.join("bad")),
        3,
        &["must be real"],
    );
    for (bad, needle) in [
        ("helmholtz", "helmholtz:K"),
        ("helmholtz:1,-1", "Im"),
        ("helmholtz:x", "number"),
        ("helmholtz:1,y", "number"),
    ] {
        let o = run(&data, bad, &d.join("bad"));
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", stderr(&o));
        assert!(stderr(&o).contains(needle), "{bad}: {}", stderr(&o));
    }
}

/// `bench-report --quick` runs end to end: the report and the chart are written, and the
/// accuracy table has a row per kernel, precision and size whose error is what its order gives.
#[test]
fn bench_report_quick_has_a_row_per_kernel() {
    let d = TempDir::new("bench-report");
    let out = d.join("report");
    assert_ok(&oxifmm(&[
        "--quiet",
        "bench-report",
        "--quick",
        "--out-dir",
        s(&out),
    ]));
    assert!(out.join("operators.svg").exists());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let rows: Vec<Vec<&str>> = md
        .lines()
        .filter(|l| {
            ["| Laplace |", "| Yukawa", "| Helmholtz"]
                .iter()
                .any(|k| l.starts_with(k))
        })
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    // 2 sizes x (Laplace: 2 distributions x 2 precisions; Yukawa, Helmholtz: 2 precisions).
    assert_eq!(rows.len(), 2 * (4 + 2 + 2), "{md}");
    for r in &rows {
        let (precision, error): (&str, f64) = (r[4], r[9].parse().unwrap());
        let bound = if precision == "f64" { 1e-5 } else { 2e-3 };
        assert!(error < bound, "{r:?}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let d = TempDir::new("usage");
    let data = d.join("data");
    assert_ok(&oxifmm(&["generate", "--n", "100", "--out", s(&data)]));
    let o = oxifmm(&[
        "run",
        "--input",
        s(&data),
        "--order",
        "13",
        "--out",
        s(&d.join("r")),
    ]);
    assert_fails(&o, 2, &["order 13", "2..=12"]);
    let o = oxifmm(&["generate", "--n", "10", "--dim", "4", "--out", s(&data)]);
    assert_eq!(o.status.code(), Some(2));
    let o = oxifmm(&["run", "--out", "x"]);
    assert_eq!(o.status.code(), Some(2), "missing --input");
    let o = oxifmm(&["operators", "--order", "4", "--dim", "2"]);
    assert_fails(&o, 2, &["2D"]);
    let h = output(Command::new(BIN).args(["run", "--help"]));
    let help = String::from_utf8_lossy(&h.stdout);
    for opt in [
        "--input",
        "--targets",
        "--order",
        "--precision",
        "--leaf",
        "--gradients",
        "--threads",
        "--out",
    ] {
        assert!(help.contains(opt), "run --help lacks {opt}");
    }
}

/// Writes a bundle with the given sources and charges arrays (raw .npy bytes).
fn bundle(dir: &TempDir, name: &str, sources: Vec<u8>, charges: Option<Vec<u8>>) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(io::bundle_file(&p, "sources"), sources).unwrap();
    if let Some(c) = charges {
        std::fs::write(io::bundle_file(&p, "charges"), c).unwrap();
    }
    p
}

#[test]
fn bad_input_files_exit_3() {
    let d = TempDir::new("bad");
    let pts: Vec<f64> = (0..30).map(|i| (i as f64 * 0.37).fract()).collect();
    let good_src = io::encode_npy(&[10, 3], Dtype::F64, &pts);
    let good_q = io::encode_npy(&[10], Dtype::F64, &[1.0; 10]);
    let out = d.join("out");
    let run = |input: &Path| {
        oxifmm(&[
            "run",
            "--input",
            s(input),
            "--order",
            "3",
            "--cache-dir",
            s(cache_dir()),
            "--out",
            s(&out),
        ])
    };

    // Sanity: the good bundle runs.
    let good = bundle(&d, "good", good_src.clone(), Some(good_q.clone()));
    assert_ok(&run(&good));

    let o = run(&d.join("missing"));
    assert_fails(&o, 3, &["missing.sources.npy", "No such file"]);

    let p = bundle(&d, "nocharges", good_src.clone(), None);
    assert_fails(&run(&p), 3, &["nocharges.charges.npy", "No such file"]);

    let p = bundle(
        &d,
        "shape4",
        io::encode_npy(&[10, 4], Dtype::F64, &[0.5; 40]),
        Some(good_q.clone()),
    );
    assert_fails(&run(&p), 3, &["shape", "(N, 3)"]);

    let p = bundle(
        &d,
        "flat",
        io::encode_npy(&[30], Dtype::F64, &pts),
        Some(good_q.clone()),
    );
    assert_fails(&run(&p), 3, &["sources has shape [30]"]);

    let p = bundle(
        &d,
        "qlen",
        good_src.clone(),
        Some(io::encode_npy(&[9], Dtype::F64, &[1.0; 9])),
    );
    assert_fails(&run(&p), 3, &["charges", "(10,)"]);

    // int64 data: the same bytes with the descriptor changed.
    let mut ints = good_src.clone();
    let at = find(&ints, "<f8");
    ints[at..at + 3].copy_from_slice(b"<i8");
    let p = bundle(&d, "ints", ints, Some(good_q.clone()));
    assert_fails(&run(&p), 3, &["unsupported dtype '<i8'"]);

    let mut fortran = good_src.clone();
    let at = find(&fortran, "False");
    fortran[at..at + 5].copy_from_slice(b"True,");
    let p = bundle(&d, "fortran", fortran, Some(good_q.clone()));
    assert_fails(&run(&p), 3, &["fortran_order"]);

    let p = bundle(
        &d,
        "trunc",
        good_src[..good_src.len() - 8].to_vec(),
        Some(good_q.clone()),
    );
    assert_fails(&run(&p), 3, &["data section"]);

    let p = bundle(
        &d,
        "garbage",
        b"not numpy at all".to_vec(),
        Some(good_q.clone()),
    );
    assert_fails(&run(&p), 3, &["not a .npy file"]);

    let mut nan = pts.clone();
    nan[3 * 7 + 1] = f64::NAN;
    let p = bundle(
        &d,
        "nan",
        io::encode_npy(&[10, 3], Dtype::F64, &nan),
        Some(good_q.clone()),
    );
    assert_fails(&run(&p), 3, &["non-finite", "row 7"]);

    let mut q = vec![1.0; 10];
    q[4] = f64::INFINITY;
    let p = bundle(
        &d,
        "infq",
        good_src.clone(),
        Some(io::encode_npy(&[10], Dtype::F64, &q)),
    );
    assert_fails(&run(&p), 3, &["charges", "non-finite", "row 4"]);

    // Targets of the wrong dimension.
    let t = d.join("t2.npy");
    io::write_npy(&t, &[5, 2], Dtype::F64, &[0.5; 10]).unwrap();
    let o = oxifmm(&[
        "run",
        "--input",
        s(&good),
        "--targets",
        s(&t),
        "--order",
        "3",
        "--cache-dir",
        s(cache_dir()),
        "--out",
        s(&out),
    ]);
    assert_fails(&o, 3, &["targets", "(N, 3)"]);

    #[cfg(not(feature = "hdf5"))]
    {
        let o = run(&d.join("x.h5"));
        assert_fails(&o, 3, &["--features hdf5"]);
    }
    assert!(leftovers(&d.0).is_empty());
}

#[test]
fn failed_output_leaves_no_partial_file() {
    let d = TempDir::new("out");
    let data = d.join("data");
    assert_ok(&oxifmm(&["generate", "--n", "300", "--out", s(&data)]));
    // Missing directory.
    let o = oxifmm(&[
        "run",
        "--input",
        s(&data),
        "--order",
        "3",
        "--cache-dir",
        s(cache_dir()),
        "--out",
        s(&d.join("no/such/dir/r")),
    ]);
    assert_fails(&o, 4, &["cannot write", "r.potentials.npy"]);
    // The gradients file cannot be renamed into place (a directory holds its name): the
    // potentials file must not appear either, and no temporary file may remain.
    let res = d.join("res");
    std::fs::create_dir(io::bundle_file(&res, "gradients")).unwrap();
    std::fs::write(
        io::bundle_file(&io::bundle_file(&res, "gradients"), "x"),
        b"x",
    )
    .unwrap();
    let o = oxifmm(&[
        "run",
        "--input",
        s(&data),
        "--order",
        "3",
        "--gradients",
        "--cache-dir",
        s(cache_dir()),
        "--out",
        s(&res),
    ]);
    assert_fails(&o, 4, &["res.gradients.npy"]);
    assert!(
        !io::bundle_file(&res, "potentials").exists(),
        "partial output"
    );
    assert!(
        leftovers(&d.0).is_empty(),
        "temporaries left: {:?}",
        leftovers(&d.0)
    );
    // An unwritable cache directory (a file is in the way).
    let blocker = d.join("blocker");
    std::fs::write(&blocker, b"").unwrap();
    let o = oxifmm(&[
        "operators",
        "--order",
        "2",
        "--cache-dir",
        s(&blocker.join("sub")),
    ]);
    // (The library warns about the unusable cache file first; the error is the last line.)
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let e = stderr(&o);
    let last = e.trim_end().lines().last().unwrap();
    assert!(
        last.starts_with("oxifmm: error:") && last.contains("blocker"),
        "{e}"
    );
}

#[cfg(feature = "hdf5")]
mod hdf5_files {
    use super::*;

    fn read(path: &Path, name: &str) -> (Vec<usize>, Vec<f64>) {
        let _held = no_fork();
        let f = hdf5::File::open(path).unwrap();
        let ds = f.dataset(name).unwrap();
        (ds.shape(), ds.read_raw::<f64>().unwrap())
    }

    #[test]
    fn generate_h5_run_h5_round_trip() {
        let d = TempDir::new("h5");
        let data = d.join("data.h5");
        assert_ok(&oxifmm(&[
            "generate",
            "--n",
            "2000",
            "--dist",
            "clusters",
            "--out",
            s(&data),
        ]));
        let out = d.join("out.h5");
        assert_ok(&oxifmm(&[
            "run",
            "--input",
            s(&data),
            "--order",
            "4",
            "--gradients",
            "--cache-dir",
            s(cache_dir()),
            "--out",
            s(&out),
        ]));
        let (ss, src) = read(&out, "particle_data/sources");
        let (_, q) = read(&out, "particle_data/source_densities");
        let (ts, tgt) = read(&out, "particle_data/targets");
        let (ps, pot) = read(&out, "particle_data/potentials");
        let (gs, _) = read(&out, "particle_data/gradients");
        assert_eq!(
            (ss, ts, ps, gs),
            (vec![2000, 3], vec![2000, 3], vec![2000], vec![2000, 3])
        );
        let (ep, _) = exact(&src, &q, &tgt);
        let e = rel_l2(&pot, &ep);
        assert!(e < 1e-3, "p=4 error {e:e}");
        // The same file with results written as an .npy bundle: the same answer (up to the
        // rounding of the potential-only P2P kernel).
        let npy = d.join("npy");
        assert_ok(&oxifmm(&[
            "run",
            "--input",
            s(&data),
            "--order",
            "4",
            "--cache-dir",
            s(cache_dir()),
            "--out",
            s(&npy),
        ]));
        let p2 = io::read_npy(&io::bundle_file(&npy, "potentials")).unwrap();
        let e = rel_l2(&p2.data, &pot);
        assert!(e < 1e-12, "npy vs h5 output: {e:e}");
    }

    /// Complex charges in h5py's layout (a compound of r and i) in, complex potentials out.
    #[test]
    fn complex_charges_and_potentials_in_hdf5() {
        use oxifmm::Complex;
        let d = TempDir::new("h5c");
        let data = d.join("data.h5");
        assert_ok(&oxifmm(&[
            "generate",
            "--n",
            "2000",
            "--complex",
            "--precision",
            "f32",
            "--out",
            s(&data),
        ]));
        let out = d.join("out.h5");
        assert_ok(&oxifmm(&[
            "run",
            "--input",
            s(&data),
            "--kernel",
            "helmholtz:5,10",
            "--order",
            "4",
            "--cache-dir",
            s(cache_dir()),
            "--out",
            s(&out),
        ]));
        let (src, q, pot) = {
            let _held = no_fork();
            let f = hdf5::File::open(&out).unwrap();
            let g = f.group("particle_data").unwrap();
            let src = g.dataset("sources").unwrap().read_raw::<f32>().unwrap();
            let q = g.dataset("source_densities").unwrap();
            assert_eq!(q.shape(), [2000]);
            let q = q.read_raw::<Complex<f32>>().unwrap();
            let pot = g
                .dataset("potentials")
                .unwrap()
                .read_raw::<Complex<f32>>()
                .unwrap();
            (src, q, pot)
        };
        let src: Vec<[f64; 3]> = src
            .chunks_exact(3)
            .map(|c| [c[0] as f64, c[1] as f64, c[2] as f64])
            .collect();
        let q: Vec<Complex<f64>> = q
            .iter()
            .map(|z| Complex::new(z.re as f64, z.im as f64))
            .collect();
        let k = oxifmm::Helmholtz::complex(Complex::new(5.0, 10.0)).unwrap();
        let exact = direct(&k, &src, &q, &src, false).unwrap();
        let flat = |v: Vec<[f64; 2]>| v.concat();
        let e = rel_l2(
            &flat(pot.iter().map(|z| [z.re as f64, z.im as f64]).collect()),
            &flat(exact.iter().map(|z| [z.re, z.im]).collect()),
        );
        assert!(e < 2e-3, "f32 p=4 helmholtz error {e:e}");
    }

    #[test]
    fn pyexafmm_experiment_file_is_answered_beside_its_data() {
        let d = TempDir::new("pyexafmm");
        let exp = d.join("experiment.hdf5");
        let src = oxifmm::points::generate::<f64, 3>(oxifmm::points::Distribution::Sphere, 1500, 9);
        let tgt =
            oxifmm::points::generate::<f64, 3>(oxifmm::points::Distribution::Uniform, 400, 10);
        let q = oxifmm::points::charges::<f64>(1500, 11);
        let flat = |p: &[[f64; 3]]| p.iter().flatten().copied().collect::<Vec<_>>();
        {
            let _held = no_fork();
            let f = hdf5::File::create(&exp).unwrap();
            let g = f.create_group("particle_data").unwrap();
            g.new_dataset::<f64>()
                .shape([1500, 3])
                .create("sources")
                .unwrap()
                .write_raw(&flat(&src))
                .unwrap();
            g.new_dataset::<f64>()
                .shape([1500])
                .create("source_densities")
                .unwrap()
                .write_raw(&q)
                .unwrap();
            g.new_dataset::<f64>()
                .shape([400, 3])
                .create("targets")
                .unwrap()
                .write_raw(&flat(&tgt))
                .unwrap();
            // Other PyExaFMM content must survive.
            let o = f.create_group("octree").unwrap();
            o.new_dataset::<u64>()
                .shape([3])
                .create("keys")
                .unwrap()
                .write_raw(&[1u64, 2, 3])
                .unwrap();
        }
        let before = std::fs::read(&exp).unwrap();
        let out = d.join("answered.hdf5");
        assert_ok(&oxifmm(&[
            "run",
            "--input",
            s(&exp),
            "--order",
            "5",
            "--cache-dir",
            s(cache_dir()),
            "--out",
            s(&out),
        ]));
        assert_eq!(std::fs::read(&exp).unwrap(), before, "input untouched");
        let (ps, pot) = read(&out, "particle_data/potentials");
        assert_eq!(ps, [400]);
        let (ep, _) = exact(&flat(&src), &q, &flat(&tgt));
        let e = rel_l2(&pot, &ep);
        assert!(e < 1e-3, "p=5 error {e:e}");
        let held = no_fork();
        let f = hdf5::File::open(&out).unwrap();
        assert_eq!(
            f.dataset("octree/keys").unwrap().read_raw::<u64>().unwrap(),
            [1, 2, 3]
        );
        assert!(!f.link_exists("particle_data/gradients"));
        drop(f);
        drop(held);

        // Bad HDF5 files.
        let bad = d.join("bad.h5");
        {
            let _held = no_fork();
            let f = hdf5::File::create(&bad).unwrap();
            let g = f.create_group("particle_data").unwrap();
            g.new_dataset::<f64>()
                .shape([10, 3])
                .create("sources")
                .unwrap()
                .write_raw(&[0.5; 30])
                .unwrap();
        }
        let o = oxifmm(&[
            "run",
            "--input",
            s(&bad),
            "--order",
            "3",
            "--out",
            s(&d.join("o.h5")),
        ]);
        assert_fails(&o, 3, &["missing dataset /particle_data/source_densities"]);
        {
            let _held = no_fork();
            let f = hdf5::File::open_rw(&bad).unwrap();
            let g = f.group("particle_data").unwrap();
            g.new_dataset::<i32>()
                .shape([10])
                .create("source_densities")
                .unwrap()
                .write_raw(&[1; 10])
                .unwrap();
        }
        let o = oxifmm(&[
            "run",
            "--input",
            s(&bad),
            "--order",
            "3",
            "--out",
            s(&d.join("o.h5")),
        ]);
        assert_fails(&o, 3, &["source_densities", "expected float64, float32"]);
        std::fs::write(d.join("junk.h5"), b"no hdf5 here").unwrap();
        let o = oxifmm(&[
            "run",
            "--input",
            s(&d.join("junk.h5")),
            "--order",
            "3",
            "--out",
            s(&d.join("o.h5")),
        ]);
        assert_fails(&o, 3, &["junk.h5"]);
        assert!(!d.join("o.h5").exists());
        assert!(leftovers(&d.0).is_empty());
    }

    #[test]
    fn operators_export_import_round_trip() {
        let d = TempDir::new("ops");
        let a = d.join("a");
        let b = d.join("b");
        let h5 = d.join("ops.h5");
        let o = oxifmm(&[
            "operators",
            "--order",
            "3",
            "--cache-dir",
            s(&a),
            "--export",
            s(&h5),
        ]);
        assert_ok(&o);
        assert!(h5.exists());
        let o =
            output(Command::new(BIN).args(["operators", "--import", s(&h5), "--cache-dir", s(&b)]));
        assert_ok(&o);
        let name = std::fs::read_dir(&a)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .file_name();
        assert!(String::from_utf8_lossy(&o.stdout).contains(name.to_str().unwrap()));
        assert_eq!(
            std::fs::read(a.join(&name)).unwrap(),
            std::fs::read(b.join(&name)).unwrap()
        );
        // A run with the imported cache loads it.
        let data = d.join("data");
        assert_ok(&oxifmm(&["generate", "--n", "200", "--out", s(&data)]));
        let o = output(Command::new(BIN).args([
            "run",
            "--input",
            s(&data),
            "--order",
            "3",
            "--cache-dir",
            s(&b),
            "--out",
            s(&d.join("r")),
        ]));
        assert_ok(&o);
        assert!(String::from_utf8_lossy(&o.stdout).contains("loaded"));
        let o = oxifmm(&["operators", "--import", s(&data), "--cache-dir", s(&b)]);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    }
}
