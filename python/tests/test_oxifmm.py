"""The oxifmm Python package against numpy direct sums, its input handling and its errors.

Run with ``python -m pytest python/tests`` where the package is installed (``scripts/test``
builds it into a fresh virtual environment and runs this suite).
"""

import doctest
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import oxifmm

REPO = Path(__file__).resolve().parents[2]


# --- references: direct sums written with numpy --------------------------------------------


def numpy_direct(kernel, sources, charges, targets, gradients=False):
    """``sum_j K(t_i, s_j) q_j`` (and its gradient in t) in float64 with numpy, coincident
    pairs contributing 0."""
    s = np.asarray(sources, dtype=np.float64)
    t = np.asarray(targets, dtype=np.float64)
    q = np.asarray(charges)
    q = q.astype(np.complex128 if np.iscomplexobj(q) or kernel.is_complex else np.float64)
    dim = s.shape[1]
    pot = np.zeros(len(t), dtype=q.dtype)
    grad = np.zeros((len(t), dim), dtype=q.dtype)
    for lo in range(0, len(t), 512):
        d = t[lo : lo + 512, None, :] - s[None, :, :]
        r2 = np.einsum("ijk,ijk->ij", d, d)
        zero = r2 == 0
        r = np.sqrt(np.where(zero, 1.0, r2))
        if dim == 2:
            g = -np.log(r) / (2 * np.pi)
            dg = -1.0 / (2 * np.pi * r * r)  # (dG/dr) / r
        elif isinstance(kernel, oxifmm.Yukawa):
            g = np.exp(-kernel.kappa * r) / (4 * np.pi * r)
            dg = -g * (1 + kernel.kappa * r) / (r * r)
        elif isinstance(kernel, oxifmm.Helmholtz):
            g = np.exp(1j * kernel.k * r) / (4 * np.pi * r)
            dg = g * (1j * kernel.k * r - 1) / (r * r)
        else:
            g = 1.0 / (4 * np.pi * r)
            dg = -g / (r * r)
        g = np.where(zero, 0, g)
        dg = np.where(zero, 0, dg)
        pot[lo : lo + 512] = g @ q
        grad[lo : lo + 512] = np.einsum("ij,ijk,j->ik", dg, d, q)
    return pot, (grad if gradients else None)


def rel(got, want):
    return float(np.linalg.norm(np.asarray(got) - want) / np.linalg.norm(want))


def points(dist, n, dim=3, seed=1):
    rng = np.random.default_rng(seed)
    if dist == "uniform":
        return rng.random((n, dim))
    if dist == "sphere":
        x = rng.normal(size=(n, dim))
        return 0.5 + 0.5 * x / np.linalg.norm(x, axis=1, keepdims=True)
    # clusters: ten Gaussian blobs of very different widths
    centres = rng.random((10, dim))
    widths = np.logspace(-3, -1, 10)
    k = rng.integers(0, 10, n)
    return np.clip(centres[k] + widths[k, None] * rng.normal(size=(n, dim)), 0, 1)


def charges(n, complex_=False, seed=2):
    rng = np.random.default_rng(seed)
    q = rng.uniform(-1, 1, n)
    return q + 1j * rng.uniform(-1, 1, n) if complex_ else q


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("oxifmm-cache"))


# --- accuracy against numpy ----------------------------------------------------------------

KERNELS = [
    oxifmm.Laplace(),
    oxifmm.Yukawa(7.5),
    oxifmm.Helmholtz(6.0),
    oxifmm.Helmholtz(5 + 1j),
]


@pytest.mark.parametrize("kernel", KERNELS, ids=repr)
@pytest.mark.parametrize("dtype,order,tol", [(np.float64, 6, 2e-5), (np.float32, 4, 2e-3)])
def test_kernels_match_numpy_direct_sum(kernel, dtype, order, tol, cache):
    x = points("uniform", 3000).astype(dtype)
    q = charges(3000, kernel.is_complex)
    fmm = oxifmm.Fmm(x, kernel=kernel, order=order, leaf=64, gradients=True, cache_dir=cache)
    out = fmm.evaluate(q)
    want, gwant = numpy_direct(kernel, x, q, x, gradients=True)
    assert out.potential.shape == (3000,) and out.gradient.shape == (3000, 3)
    expect = (np.complex64 if dtype == np.float32 else np.complex128) if kernel.is_complex else dtype
    assert out.potential.dtype == expect and out.gradient.dtype == expect
    assert rel(out.potential, want) < tol
    assert rel(out.gradient, gwant) < 20 * tol


@pytest.mark.parametrize("dtype,order,tol", [(np.float64, 8, 1e-6), (np.float32, 4, 1e-3)])
def test_laplace_2d_and_separate_targets(dtype, order, tol, cache):
    x = points("uniform", 2000, dim=2).astype(dtype)
    y = points("sphere", 700, dim=2, seed=5).astype(dtype)
    q = charges(2000)
    out = oxifmm.Fmm(x, y, order=order, gradients=True, cache_dir=cache).evaluate(q)
    want, gwant = numpy_direct(oxifmm.Laplace(), x, q, y, gradients=True)
    assert out.potential.shape == (700,) and out.gradient.shape == (700, 2)
    assert rel(out.potential, want) < tol
    assert rel(out.gradient, gwant) < 20 * tol


def test_error_falls_with_the_order(cache):
    x = points("clusters", 3000)
    q = charges(3000)
    want, _ = numpy_direct(oxifmm.Laplace(), x, q, x)
    errs = [rel(oxifmm.Fmm(x, order=p, cache_dir=cache).evaluate(q).potential, want) for p in (3, 5, 7)]
    assert errs[0] > 5 * errs[1] > 25 * errs[2], errs


def test_direct_matches_numpy():
    x = points("uniform", 500)
    y = points("uniform", 80, seed=9)
    for kernel in KERNELS:
        q = charges(500, kernel.is_complex)
        out = oxifmm.direct(x, q, y, kernel=kernel, gradients=True)
        want, gwant = numpy_direct(kernel, x, q, y, gradients=True)
        assert rel(out.potential, want) < 1e-13
        assert rel(out.gradient, gwant) < 1e-12


def test_one_shot_functions(cache):
    x = points("uniform", 2000)
    q = charges(2000)
    lap = oxifmm.laplace(x, q, order=6)
    assert rel(lap.potential, numpy_direct(oxifmm.Laplace(), x, q, x)[0]) < 2e-5
    yuk = oxifmm.yukawa(x, q, kappa=3.0, order=6)
    assert rel(yuk.potential, numpy_direct(oxifmm.Yukawa(3.0), x, q, x)[0]) < 2e-5
    qc = charges(2000, True)
    hel = oxifmm.helmholtz(x, qc, x[:300], k=4.0, order=6, gradients=True)
    want, gwant = numpy_direct(oxifmm.Helmholtz(4.0), x, qc, x[:300], gradients=True)
    assert rel(hel.potential, want) < 2e-5 and rel(hel.gradient, gwant) < 5e-4
    pot, grad = hel  # a Result unpacks
    assert pot is hel.potential and grad is hel.gradient


@pytest.mark.parametrize("dist", ["uniform", "sphere", "clusters"])
@pytest.mark.parametrize("eps", [1e-3, 1e-5, 1e-7])
def test_eps_is_met(dist, eps, cache):
    x = points(dist, 4000)
    q = charges(4000)
    fmm = oxifmm.Fmm(x, eps=eps, cache_dir=cache)
    assert fmm.order == oxifmm.order_for_eps(eps)
    lo, hi = fmm.report["table_error"]
    assert eps / 10 <= lo <= hi <= eps and fmm.report["m2l_tolerance"] > 0
    err = rel(fmm.evaluate(q).potential, numpy_direct(oxifmm.Laplace(), x, q, x)[0])
    assert err <= eps, (dist, eps, fmm.order, err)


def test_eps_default_and_orders():
    assert oxifmm.order_for_eps(1e-8) > oxifmm.order_for_eps(1e-6) > oxifmm.order_for_eps(1e-3)
    x = points("uniform", 1000)
    assert oxifmm.Fmm(x).order == oxifmm.order_for_eps(1e-6)
    assert oxifmm.Fmm(x.astype(np.float32)).order == oxifmm.order_for_eps(1e-4, dtype="float32")
    lo, hi = oxifmm.supported_orders(3)
    assert lo <= 6 <= hi and oxifmm.supported_orders(2)[1] >= hi


# --- dtypes and layouts --------------------------------------------------------------------


def test_layouts_and_array_likes_give_identical_results(cache):
    x = points("uniform", 2000)
    q = charges(2000)
    ref = oxifmm.Fmm(x, order=5, cache_dir=cache).evaluate(q).potential
    fortran = np.asfortranarray(x)
    strided = np.zeros((2000, 6))
    strided[:, ::2] = x
    for variant in [fortran, strided[:, ::2], x.tolist()]:
        got = oxifmm.Fmm(variant, order=5, cache_dir=cache).evaluate(q[::-1][::-1]).potential
        assert np.array_equal(got, ref)
    q_strided = np.zeros(4000)
    q_strided[::2] = q
    got = oxifmm.Fmm(x, order=5, cache_dir=cache).evaluate(q_strided[::2]).potential
    assert np.array_equal(got, ref)
    # Integer coordinates become float64; float32 charges are widened for a float64 FMM.
    xi = (x * 1000).astype(np.int64)
    fi = oxifmm.Fmm(xi, order=5, cache_dir=cache)
    assert fi.dtype == np.float64
    assert fi.evaluate(q.astype(np.float32)).potential.dtype == np.float64


def test_real_charges_for_helmholtz_and_results_in_caller_order(cache):
    x = points("sphere", 1500)
    q = charges(1500)
    fmm = oxifmm.Fmm(x, kernel=oxifmm.Helmholtz(3.0), order=6, cache_dir=cache)
    a = fmm.evaluate(q).potential
    b = fmm.evaluate(q + 0j).potential
    assert a.dtype == np.complex128 and np.array_equal(a, b)
    # Shuffled sources: the same potentials, shuffled the same way.
    perm = np.random.default_rng(3).permutation(1500)
    c = oxifmm.Fmm(x[perm], kernel=oxifmm.Helmholtz(3.0), order=6, cache_dir=cache).evaluate(q[perm])
    assert rel(c.potential, a[perm]) < 1e-9


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call,needle",
    [
        (lambda x, q: oxifmm.Fmm(x[:, :1]), "shape"),
        (lambda x, q: oxifmm.Fmm(np.zeros((0, 3))), "empty"),
        (lambda x, q: oxifmm.Fmm(np.where(np.arange(300)[:, None] == 7, np.nan, x)), "non-finite"),
        (lambda x, q: oxifmm.Fmm(x, x[:, :2]), "dimensional"),
        (lambda x, q: oxifmm.Fmm(x, order=40), "not supported"),
        (lambda x, q: oxifmm.Fmm(x, order=0), "order"),
        (lambda x, q: oxifmm.Fmm(x, eps=1e-30), "eps"),
        (lambda x, q: oxifmm.Fmm(x, eps=2.0), "eps"),
        (lambda x, q: oxifmm.Fmm(x.astype(np.float32), eps=1e-9), "f64"),
        (lambda x, q: oxifmm.Fmm(x, eps=1e-3, order=4), "not both"),
        (lambda x, q: oxifmm.Fmm(x, leaf=0), "leaf"),
        (lambda x, q: oxifmm.Fmm(x, threads=0), "threads"),
        (lambda x, q: oxifmm.Fmm(x, kernel="stokes"), "kernel"),
        (lambda x, q: oxifmm.Fmm(x, kernel=oxifmm.Yukawa(-1.0)), "kappa"),
        (lambda x, q: oxifmm.Fmm(x, kernel=oxifmm.Helmholtz(1 - 1j)), "Im k"),
        (lambda x, q: oxifmm.Fmm(x[:, :2], kernel=oxifmm.Yukawa(1.0)), "3D"),
        (lambda x, q: oxifmm.Fmm(x + 0j), "real coordinates"),
        (lambda x, q: oxifmm.Fmm(x, order=4).evaluate(q[:-1]), "expected 300"),
        (lambda x, q: oxifmm.Fmm(x, order=4).evaluate(q[:, None]), "shape"),
        (lambda x, q: oxifmm.Fmm(x, order=4).evaluate(np.where(np.arange(300) == 3, np.inf, q)), "non-finite"),
        (lambda x, q: oxifmm.Fmm(x, order=4).evaluate(q + 1j), "complex"),
        (lambda x, q: oxifmm.direct(x, q, x[:, :2]), "dimensional"),
    ],
)
def test_bad_input_raises_value_error(call, needle):
    x = points("uniform", 300)
    q = charges(300)
    with pytest.raises(ValueError) as e:
        call(x, q)
    assert needle.lower() in str(e.value).lower(), str(e.value)


def test_cache_dir_that_is_a_file_raises_os_error(tmp_path):
    f = tmp_path / "not-a-dir"
    f.write_text("x")
    with pytest.raises(OSError, match="not a directory"):
        oxifmm.Fmm(points("uniform", 100), order=4, cache_dir=f)


# --- threads, the command line, the report -------------------------------------------------


def test_two_threads_evaluating_at_once_agree_with_one(cache):
    x = points("uniform", 20000)
    qs = [charges(20000, seed=s) for s in (11, 12)]
    fmm = oxifmm.Fmm(x, order=6, cache_dir=cache)
    alone = [fmm.evaluate(q).potential for q in qs]
    got = [None, None]

    def work(i):
        for _ in range(3):
            got[i] = fmm.evaluate(qs[i]).potential

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert np.array_equal(got[i], alone[i])


def cli():
    exe = os.environ.get("OXIFMM_CLI") or shutil.which("oxifmm")
    if exe is None:
        built = REPO / "target" / "release" / "oxifmm"
        exe = str(built) if built.exists() else None
    return exe


@pytest.mark.skipif(cli() is None, reason="the oxifmm command-line tool is not built")
def test_results_equal_the_command_line(tmp_path, cache):
    x = points("clusters", 3000)
    q = charges(3000)
    np.save(tmp_path / "p.sources.npy", x)
    np.save(tmp_path / "p.charges.npy", q)
    subprocess.run(
        [cli(), "--quiet", "run", "--input", str(tmp_path / "p"), "--order", "6", "--gradients",
         "--cache-dir", cache, "--out", str(tmp_path / "r")],
        check=True,
    )
    out = oxifmm.Fmm(x, order=6, gradients=True, cache_dir=cache).evaluate(q)
    assert np.array_equal(np.load(tmp_path / "r.potentials.npy"), out.potential)
    assert np.array_equal(np.load(tmp_path / "r.gradients.npy"), out.gradient)


def test_report(cache):
    fmm = oxifmm.Fmm(points("uniform", 5000), order=5, cache_dir=cache)
    r = fmm.report
    assert r["order"] == 5 and r["dim"] == 3 and r["precision"] == "float64"
    assert r["memory_bytes"] > 0 and r["operators_seconds"] >= 0
    assert "evaluate_seconds" not in r
    fmm.evaluate(charges(5000))
    r = fmm.report
    assert r["evaluate_seconds"] > 0 and set(r["operator_seconds"]) >= {"P2P", "M2L"}
    assert "Fmm(kernel=Laplace(), dim=3, order=5" in repr(fmm)


def test_module_docstring_example_runs():
    failures, tried = doctest.testmod(oxifmm)
    assert tried > 0 and failures == 0
