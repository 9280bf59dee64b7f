//! What identifies a kernel's operators: its [`KernelId`] (the operator cache's key) and how
//! its operators change with the box size ([`Scaling`]).

/// The identity of a kernel value: its name, its parameters and the version of its formula.
/// Operators are cached under it, so two kernels with equal ids must have equal formulas:
/// kernels with the same name and different parameters (two wavenumbers), or a formula that
/// was edited (bump `version`), never share a cache file.
///
/// ```
/// use oxifmm::{Kernel, KernelId, Laplace};
///
/// let id = <Laplace as Kernel<3>>::id(&Laplace);
/// assert_eq!(id, KernelId::new("laplace", 1));
/// let yukawa = KernelId::new("yukawa", 1).param("kappa", 20.0);
/// assert_ne!(yukawa, KernelId::new("yukawa", 1).param("kappa", 10.0));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct KernelId {
    /// A short name, used in operator-cache file names (`[A-Za-z0-9_]`; other characters
    /// become `_` there).
    pub name: String,
    /// The parameters that change the kernel's values, by name, in a fixed order.
    pub params: Vec<(String, f64)>,
    /// The version of the formula: bump it when the formula changes.
    pub version: u32,
}

impl KernelId {
    /// An id without parameters.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Self {
            name: name.into(),
            params: Vec::new(),
            version,
        }
    }

    /// This id with one more parameter.
    pub fn param(mut self, name: impl Into<String>, value: f64) -> Self {
        self.params.push((name.into(), value));
        self
    }
}

/// How a kernel's operators depend on the box size: what decides whether a tree needs one
/// operator set or one per level, and which sets the cache can share between trees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scaling {
    /// `K(s x, s y) = s^degree K(x, y)` for every `s > 0` (Laplace 3D: degree -1): one
    /// operator set for the unit box, scaled per level, shared by every tree.
    Homogeneous {
        /// The degree `d`.
        degree: i32,
    },
    /// `K(s x, s y) = s^degree K'(x, y)` where `K' = kernel.rescaled(s)` is the same kernel
    /// with other parameters (Yukawa: `exp(-kappa s r) / (4 pi s r) = s^-1 K_{kappa s}(r)`):
    /// one operator set per level, computed for the unit box of the rescaled kernel, so it is
    /// keyed (and shared between trees) by the rescaled parameters, e.g. `kappa` times the
    /// box size.
    Rescaled {
        /// The degree `d`.
        degree: i32,
    },
    /// Neither: one operator set per level, computed at the level's box size and keyed by it
    /// (Laplace 2D, whose `ln` is not homogeneous).
    PerLevel,
}
