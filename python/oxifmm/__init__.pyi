"""Type stubs of oxifmm (see the module's docstrings for the full documentation)."""

from os import PathLike
from typing import Iterator, Optional, Union

import numpy as np
import numpy.typing as npt

DEFAULT_EPS: dict[str, float]

class Laplace:
    """The Laplace kernel: ``1 / (4 pi r)`` in 3D, ``-ln(r) / (2 pi)`` in 2D."""
    spec: str
    is_complex: bool
    def __init__(self) -> None: ...

class Yukawa:
    """The Yukawa kernel ``exp(-kappa r) / (4 pi r)``, 3D."""
    kappa: float
    spec: str
    is_complex: bool
    def __init__(self, kappa: float) -> None: ...

class Helmholtz:
    """The Helmholtz kernel ``exp(i k r) / (4 pi r)``, 3D, complex."""
    k: complex
    spec: str
    is_complex: bool
    def __init__(self, k: complex) -> None: ...

Kernel = Union[str, Laplace, Yukawa, Helmholtz]

class Result:
    """Potentials ``(M,)`` and gradients ``(M, D)`` or ``None``, in the targets' order."""
    potential: np.ndarray
    gradient: Optional[np.ndarray]
    def __init__(self, potential: np.ndarray, gradient: Optional[np.ndarray]) -> None: ...
    def __iter__(self) -> Iterator[Optional[np.ndarray]]: ...

class Fmm:
    """A fast multipole method built once for a set of sources (and targets)."""
    kernel: Union[Laplace, Yukawa, Helmholtz]
    def __init__(
        self,
        sources: npt.ArrayLike,
        targets: Optional[npt.ArrayLike] = None,
        *,
        kernel: Kernel = "laplace",
        eps: Optional[float] = None,
        order: Optional[int] = None,
        leaf: int = 150,
        gradients: bool = False,
        threads: Optional[int] = None,
        cache_dir: Optional[Union[str, PathLike[str]]] = None,
    ) -> None: ...
    def evaluate(self, charges: npt.ArrayLike) -> Result:
        """Potentials (and gradients) at the targets for one charge per source."""
    @property
    def order(self) -> int: ...
    @property
    def dim(self) -> int: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def report(self) -> dict: ...

def laplace(
    sources: npt.ArrayLike,
    charges: npt.ArrayLike,
    targets: Optional[npt.ArrayLike] = None,
    *,
    eps: Optional[float] = None,
    order: Optional[int] = None,
    gradients: bool = False,
) -> Result: ...
def yukawa(
    sources: npt.ArrayLike,
    charges: npt.ArrayLike,
    targets: Optional[npt.ArrayLike] = None,
    *,
    kappa: float,
    eps: Optional[float] = None,
    order: Optional[int] = None,
    gradients: bool = False,
) -> Result: ...
def helmholtz(
    sources: npt.ArrayLike,
    charges: npt.ArrayLike,
    targets: Optional[npt.ArrayLike] = None,
    *,
    k: complex,
    eps: Optional[float] = None,
    order: Optional[int] = None,
    gradients: bool = False,
) -> Result: ...
def direct(
    sources: npt.ArrayLike,
    charges: npt.ArrayLike,
    targets: Optional[npt.ArrayLike] = None,
    *,
    kernel: Kernel = "laplace",
    gradients: bool = False,
) -> Result: ...
def order_for_eps(
    eps: float, *, kernel: Kernel = "laplace", dim: int = 3, dtype: npt.DTypeLike = "float64"
) -> int: ...
def supported_orders(dim: int = 3) -> tuple[int, int]: ...
