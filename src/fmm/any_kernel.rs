//! The kernel of a run-time configured FMM: one of the shipped kernels, parsed from the
//! command line's spelling.

use crate::error::{Error, Result};
use crate::kernel::{Helmholtz, Yukawa};
use crate::scalar::Complex;

/// A kernel chosen at run time: one of the kernels oxifmm ships.
///
/// Parsed from the command line's spelling: `laplace`, `yukawa:KAPPA`, `helmholtz:K` or
/// `helmholtz:RE,IM`.
///
/// ```
/// use oxifmm::AnyKernel;
///
/// assert_eq!("laplace".parse::<AnyKernel>()?, AnyKernel::Laplace);
/// let k: AnyKernel = "helmholtz:5,0.5".parse()?;
/// assert!(k.is_complex());
/// assert_eq!(k.to_string(), "Helmholtz (k 5 + 0.5i)");
/// assert!("yukawa".parse::<AnyKernel>().is_err());
/// # Ok::<(), oxifmm::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AnyKernel {
    /// [`Laplace`](crate::Laplace), 2D and 3D.
    Laplace,
    /// [`Yukawa`](crate::Yukawa) (modified Helmholtz), 3D.
    Yukawa(Yukawa),
    /// [`Helmholtz`](crate::Helmholtz), 3D, complex charges and potentials.
    Helmholtz(Helmholtz),
}

impl AnyKernel {
    /// The kernel's name: `"laplace"`, `"yukawa"` or `"helmholtz"` (as in the accuracy table).
    pub fn name(&self) -> &'static str {
        match self {
            AnyKernel::Laplace => "laplace",
            AnyKernel::Yukawa(_) => "yukawa",
            AnyKernel::Helmholtz(_) => "helmholtz",
        }
    }

    /// Whether its charges and potentials are complex.
    pub fn is_complex(&self) -> bool {
        matches!(self, AnyKernel::Helmholtz(_))
    }

    /// Whether it exists in `dim` dimensions.
    pub fn supports_dim(&self, dim: usize) -> bool {
        match self {
            AnyKernel::Laplace => dim == 2 || dim == 3,
            _ => dim == 3,
        }
    }
}

fn kernel_error(reason: impl Into<String>) -> Error {
    Error::InvalidParameter {
        name: "kernel",
        reason: reason.into(),
    }
}

fn number(s: &str, what: &str) -> Result<f64> {
    s.trim()
        .parse()
        .map_err(|_| kernel_error(format!("{what} needs a number, got {s:?}")))
}

impl std::str::FromStr for AnyKernel {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let (name, param) = match s.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (s, None),
        };
        match (name.to_ascii_lowercase().as_str(), param) {
            ("laplace", None) => Ok(AnyKernel::Laplace),
            ("yukawa", Some(p)) => Ok(AnyKernel::Yukawa(Yukawa::new(number(p, "yukawa:KAPPA")?)?)),
            ("helmholtz", Some(p)) => Ok(AnyKernel::Helmholtz(match p.split_once(',') {
                Some((re, im)) => Helmholtz::complex(Complex::new(
                    number(re, "helmholtz:RE,IM")?,
                    number(im, "helmholtz:RE,IM")?,
                ))?,
                None => Helmholtz::new(number(p, "helmholtz:K")?)?,
            })),
            ("yukawa", None) => Err(kernel_error(
                "yukawa needs its screening constant: yukawa:KAPPA",
            )),
            ("helmholtz", None) => Err(kernel_error(
                "helmholtz needs its wavenumber: helmholtz:K or helmholtz:RE,IM",
            )),
            ("laplace", Some(_)) => Err(kernel_error("laplace takes no parameter")),
            _ => Err(kernel_error(format!(
                "unknown kernel {name:?} (laplace, yukawa:KAPPA, helmholtz:K, helmholtz:RE,IM)"
            ))),
        }
    }
}

impl std::fmt::Display for AnyKernel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnyKernel::Laplace => write!(f, "Laplace"),
            AnyKernel::Yukawa(k) => write!(f, "Yukawa (kappa {})", k.kappa()),
            AnyKernel::Helmholtz(h) => {
                let k = h.wavenumber();
                if k.im == 0.0 {
                    write!(f, "Helmholtz (k {})", k.re)
                } else {
                    write!(f, "Helmholtz (k {} + {}i)", k.re, k.im)
                }
            }
        }
    }
}
