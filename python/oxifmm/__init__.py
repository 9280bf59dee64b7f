"""oxifmm: kernel-independent fast multipole sums over numpy arrays.

Computes ``phi(x_i) = sum_j K(x_i, y_j) q_j`` (and its gradient) for the Laplace, Yukawa
(modified Helmholtz) and Helmholtz kernels in O(N), in float32 or float64, 2D or 3D.

>>> import numpy as np, oxifmm
>>> rng = np.random.default_rng(0)
>>> x = rng.random((5000, 3))
>>> q = rng.uniform(-1, 1, 5000)
>>> fmm = oxifmm.Fmm(x, eps=1e-6)
>>> out = fmm.evaluate(q)
>>> out.potential.shape
(5000,)
>>> exact = oxifmm.direct(x, q, x[:100]).potential
>>> bool(np.linalg.norm(out.potential[:100] - exact) <= 1e-6 * np.linalg.norm(exact))
True

Build an :class:`Fmm` once for a point set and evaluate it for many charge vectors, or use the
one-shot functions :func:`laplace`, :func:`yukawa` and :func:`helmholtz`; :func:`direct` is the
exact O(N M) sum for checking.
"""

from __future__ import annotations

import os

import numpy as np

from . import _oxifmm

__all__ = [
    "Fmm",
    "Result",
    "Laplace",
    "Yukawa",
    "Helmholtz",
    "laplace",
    "yukawa",
    "helmholtz",
    "direct",
    "order_for_eps",
    "supported_orders",
]

#: The ``eps`` used when neither ``eps`` nor ``order`` is given, per precision: float32
#: cannot deliver 1e-6 (its floor is about 4e-5).
DEFAULT_EPS = {"float64": 1e-6, "float32": 1e-4}


class Laplace:
    """The Laplace kernel: ``1 / (4 pi r)`` in 3D, ``-ln(r) / (2 pi)`` in 2D (real)."""

    spec = "laplace"
    is_complex = False

    def __repr__(self) -> str:
        return "Laplace()"


class Yukawa:
    """The modified Helmholtz (Yukawa) kernel ``exp(-kappa r) / (4 pi r)``, 3D, real.

    ``kappa`` is the screening constant, finite and >= 0.
    """

    is_complex = False

    def __init__(self, kappa: float):
        self.kappa = float(kappa)
        self.spec = f"yukawa:{self.kappa!r}"

    def __repr__(self) -> str:
        return f"Yukawa({self.kappa!r})"


class Helmholtz:
    """The Helmholtz kernel ``exp(i k r) / (4 pi r)``, 3D, complex charges and potentials.

    ``k`` is the wavenumber, real or complex with ``Im k >= 0``. KIFMM is a low-frequency
    method: it is accurate while the root box is at most a few wavelengths across
    (``2 pi / Re k``); the build warns (``report["warnings"]``) beyond that.
    """

    is_complex = True

    def __init__(self, k: complex):
        self.k = complex(k)
        self.spec = f"helmholtz:{self.k.real!r},{self.k.imag!r}"

    def __repr__(self) -> str:
        k = self.k.real if self.k.imag == 0 else self.k
        return f"Helmholtz({k!r})"


def _kernel(kernel):
    """A kernel object from ``"laplace"`` or a kernel object."""
    if isinstance(kernel, (Laplace, Yukawa, Helmholtz)):
        return kernel
    if isinstance(kernel, str):
        if kernel.lower() == "laplace":
            return Laplace()
        raise ValueError(
            f"kernel {kernel!r}: give 'laplace' or an object oxifmm.Laplace(), "
            "oxifmm.Yukawa(kappa) or oxifmm.Helmholtz(k)"
        )
    raise ValueError(
        f"kernel must be 'laplace', oxifmm.Laplace(), oxifmm.Yukawa(kappa) or "
        f"oxifmm.Helmholtz(k), got {type(kernel).__name__}"
    )


def _points(x, name: str, dtype=None) -> np.ndarray:
    """``x`` as a C-contiguous ``(N, 2)`` or ``(N, 3)`` float32/float64 array (copied only when
    its layout or dtype is not that already)."""
    a = np.asarray(x)
    if np.iscomplexobj(a):
        raise ValueError(f"{name} must be real coordinates, got dtype {a.dtype}")
    if dtype is None:
        dtype = a.dtype if a.dtype in (np.float32, np.float64) else np.float64
    if a.ndim != 2 or a.shape[1] not in (2, 3):
        raise ValueError(f"{name} must have shape (N, 2) or (N, 3), got {a.shape}")
    try:
        return np.ascontiguousarray(a, dtype=dtype)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: {e}") from None


def _charges(q, n: int, kernel, dtype) -> np.ndarray:
    """``q`` as a contiguous ``(n,)`` array of the kernel's value type in precision ``dtype``."""
    a = np.asarray(q)
    if a.ndim != 1:
        raise ValueError(f"charges must have shape (N,), got {a.shape}")
    if a.shape[0] != n:
        raise ValueError(f"charges has {a.shape[0]} entries, expected {n} (one per source)")
    if np.iscomplexobj(a) and not kernel.is_complex:
        raise ValueError(
            f"the charges are complex but the {kernel!r} kernel is real: give real charges "
            "or use oxifmm.Helmholtz(k)"
        )
    if kernel.is_complex:
        target = np.complex64 if dtype == np.float32 else np.complex128
    else:
        target = dtype
    try:
        return np.ascontiguousarray(a, dtype=target)
    except (TypeError, ValueError) as e:
        raise ValueError(f"charges: {e}") from None


def _positive_int(x, name: str) -> int:
    """``x`` as an int >= 1, or a ValueError that names ``name``."""
    try:
        ok = not isinstance(x, bool) and int(x) == x and x >= 1
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive integer, got {x!r}")
    return int(x)


class Result:
    """Potentials (and gradients) at the targets, in the caller's target order.

    ``potential`` has shape ``(M,)`` (complex for Helmholtz); ``gradient`` has shape ``(M, D)``
    (the gradient with respect to the target) or is ``None`` when gradients were not asked.
    """

    __slots__ = ("potential", "gradient")

    def __init__(self, potential: np.ndarray, gradient):
        self.potential = potential
        self.gradient = gradient

    def __iter__(self):
        return iter((self.potential, self.gradient))

    def __repr__(self) -> str:
        g = None if self.gradient is None else self.gradient.shape
        return f"Result(potential: {self.potential.shape} {self.potential.dtype}, gradient: {g})"


class Fmm:
    """A fast multipole method built once for a set of sources (and targets).

    Parameters
    ----------
    sources : array_like, shape (N, 2) or (N, 3)
        Source points. Their dtype (float32 or float64; anything else becomes float64) sets
        the precision; the shape sets the dimension.
    targets : array_like, shape (M, D), optional
        Target points (converted to the sources' dtype). Default: the sources.
    kernel : "laplace" or Laplace() / Yukawa(kappa) / Helmholtz(k)
        The kernel. Yukawa and Helmholtz are 3D.
    eps : float, optional
        Relative L2 error of the potential to meet: the cheapest measured expansion order and
        M2L tolerance whose error on uniform, sphere and clustered points lies in
        ``[eps / 10, eps]`` is chosen (see :func:`order_for_eps`; ``report`` names the
        tolerance and the table's errors). Default
        ``DEFAULT_EPS`` of the precision (1e-6 in float64, 1e-4 in float32).
    order : int, optional
        The expansion order instead of ``eps`` (see :func:`supported_orders`).
    leaf : int
        Largest number of points in a leaf box.
    gradients : bool
        Also compute gradients.
    threads : int, optional
        Worker threads for this FMM (default: all cores).
    cache_dir : str or path, optional
        Operator cache directory (default: the user's cache directory, or
        ``$OXIFMM_CACHE_DIR``).

    Raises
    ------
    ValueError
        Bad shapes, NaN or infinite coordinates, an unsupported order, an ``eps`` the
        precision cannot meet, bad kernel parameters.
    OSError
        A ``cache_dir`` that is not a directory, or an operator cache file that cannot be
        read. (A cache directory that cannot be written is not an error: the operators are
        then computed in memory, and ``report["operator_cache"]`` says why.)

    The GIL is released while building and evaluating: several Python threads can evaluate
    (the same or different) FMMs at once. Do not modify the arrays passed in during a call.
    """

    def __init__(
        self,
        sources,
        targets=None,
        *,
        kernel="laplace",
        eps=None,
        order=None,
        leaf=150,
        gradients=False,
        threads=None,
        cache_dir=None,
    ):
        self.kernel = _kernel(kernel)
        src = _points(sources, "sources")
        tgt = None if targets is None else _points(targets, "targets", src.dtype)
        if eps is not None and order is not None:
            raise ValueError("give eps or order, not both")
        if order is not None:
            order = _positive_int(order, "order")
        elif eps is None:
            eps = DEFAULT_EPS[src.dtype.name]
        if eps is not None:
            eps = float(eps)
        leaf = _positive_int(leaf, "leaf")
        if threads is not None:
            threads = _positive_int(threads, "threads")
        if cache_dir is not None:
            cache_dir = os.fspath(cache_dir)
            if os.path.exists(cache_dir) and not os.path.isdir(cache_dir):
                raise NotADirectoryError(
                    f"cache_dir {cache_dir!r} exists and is not a directory"
                )
        self._dtype = src.dtype
        self._inner = _oxifmm._Fmm(
            src,
            tgt,
            self.kernel.spec,
            eps,
            order,
            leaf,
            bool(gradients),
            threads,
            cache_dir,
        )

    def evaluate(self, charges) -> Result:
        """Potentials (and gradients) at the targets for ``charges`` (shape ``(N,)``, one per
        source; complex for Helmholtz, real charges are taken with zero imaginary part).
        Can be called any number of times."""
        q = _charges(charges, self._inner.n_sources, self.kernel, self._dtype)
        return Result(*self._inner.evaluate(q))

    @property
    def order(self) -> int:
        """The expansion order (given, or chosen for ``eps``)."""
        return self._inner.order

    @property
    def dim(self) -> int:
        """The dimension, 2 or 3."""
        return self._inner.dim

    @property
    def dtype(self) -> np.dtype:
        """The precision of the computation (float32 or float64)."""
        return self._dtype

    @property
    def report(self) -> dict:
        """Timings in seconds (build stages; after an evaluation ``evaluate_seconds`` and the
        per-operator ``operator_seconds``), memory in bytes, the order, the M2L backend, the
        operator cache outcome and any warnings."""
        return self._inner.report()

    def __repr__(self) -> str:
        return (
            f"Fmm(kernel={self.kernel!r}, dim={self.dim}, order={self.order}, "
            f"dtype={self._dtype.name}, sources={self._inner.n_sources}, "
            f"targets={self._inner.n_targets})"
        )


def laplace(sources, charges, targets=None, *, eps=None, order=None, gradients=False) -> Result:
    """One-shot Laplace FMM: ``Fmm(sources, targets, eps=..., order=...).evaluate(charges)``."""
    return Fmm(sources, targets, eps=eps, order=order, gradients=gradients).evaluate(charges)


def yukawa(
    sources, charges, targets=None, *, kappa, eps=None, order=None, gradients=False
) -> Result:
    """One-shot Yukawa FMM (``exp(-kappa r) / (4 pi r)``, 3D)."""
    return Fmm(
        sources, targets, kernel=Yukawa(kappa), eps=eps, order=order, gradients=gradients
    ).evaluate(charges)


def helmholtz(
    sources, charges, targets=None, *, k, eps=None, order=None, gradients=False
) -> Result:
    """One-shot Helmholtz FMM (``exp(i k r) / (4 pi r)``, 3D, complex potentials)."""
    return Fmm(
        sources, targets, kernel=Helmholtz(k), eps=eps, order=order, gradients=gradients
    ).evaluate(charges)


def direct(sources, charges, targets=None, *, kernel="laplace", gradients=False) -> Result:
    """The exact sum ``sum_j K(t_i, s_j) q_j`` over all pairs (O(N M)), for checking.

    Same conventions as :class:`Fmm`: the sources' dtype sets the precision; a source that
    coincides with a target contributes 0.
    """
    kernel = _kernel(kernel)
    src = _points(sources, "sources")
    tgt = src if targets is None else _points(targets, "targets", src.dtype)
    if tgt.shape[1] != src.shape[1]:
        raise ValueError(
            f"targets are {tgt.shape[1]}-dimensional but sources are {src.shape[1]}-dimensional"
        )
    q = _charges(charges, src.shape[0], kernel, src.dtype)
    return Result(*_oxifmm.direct(src, q, tgt, kernel.spec, bool(gradients)))


def order_for_eps(eps: float, *, kernel="laplace", dim: int = 3, dtype="float64") -> int:
    """The expansion order ``eps`` selects, from the table of measured errors shipped with
    oxifmm (the worst of uniform, sphere and clustered points)."""
    return _oxifmm.order_for_eps(_kernel(kernel).spec, int(dim), np.dtype(dtype).name, float(eps))


def supported_orders(dim: int = 3) -> tuple:
    """``(lowest, highest)`` expansion order supported in ``dim`` dimensions."""
    return _oxifmm.supported_orders(int(dim))
