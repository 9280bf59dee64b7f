//! The floating-point types oxifmm computes in (`f32` and `f64`), and the one cast between a
//! generic `T: Real` slice and the concrete type it is, which routes generic code to the
//! per-precision SIMD kernels.

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

use crate::kernel::{Complex, Value};

/// Which precision a [`Real`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Precision {
    /// Single precision.
    F32,
    /// Double precision.
    F64,
}

impl Precision {
    /// `"f32"` or `"f64"`.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::F64 => "f64",
        }
    }
}

/// A floating-point scalar: implemented for `f32` and `f64` only (sealed).
pub trait Real:
    Copy
    + Default
    + Debug
    + Display
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
    + MulAssign
    + Value<Real = Self>
    + sealed::Sealed
{
    /// The complex numbers over this type, `Complex<Self>` (what a complex kernel's values
    /// are: `type Value<T: Real> = T::Complex`).
    type Complex: Value<Real = Self>;
    /// Which precision this is.
    const PRECISION: Precision;
    /// Zero.
    const ZERO: Self;
    /// One.
    const ONE: Self;
    /// Machine epsilon.
    const EPSILON: Self;
    /// Conversion from f64 (rounding for f32).
    fn from_f64(x: f64) -> Self;
    /// Conversion to f64 (exact).
    fn to_f64(self) -> f64;
    /// Square root.
    fn sqrt(self) -> Self;
    /// Natural logarithm.
    fn ln(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// True unless NaN or infinite.
    fn is_finite(self) -> bool;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! impl_real {
    ($t:ty, $p:expr) => {
        impl Real for $t {
            type Complex = Complex<$t>;
            const PRECISION: Precision = $p;
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            const EPSILON: Self = <$t>::EPSILON;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn is_finite(self) -> bool {
                <$t>::is_finite(self)
            }
        }
    };
}
impl_real!(f32, Precision::F32);
impl_real!(f64, Precision::F64);

/// Reinterprets a slice of one [`Real`] type as another when they are the same type (the one
/// precision cast of the crate).
///
/// # Panics
///
/// When `T` and `U` are different types.
#[inline(always)]
pub fn same<T: Real, U: Real>(s: &[T]) -> &[U] {
    assert!(T::PRECISION == U::PRECISION, "precision mismatch");
    // SAFETY: `Real` is sealed and implemented only for f32 and f64, whose PRECISION values
    // differ, so equal PRECISION means T and U are the same type; the cast is the identity.
    unsafe { std::slice::from_raw_parts(s.as_ptr() as *const U, s.len()) }
}

/// Mutable version of [`same`].
#[inline(always)]
pub fn same_mut<T: Real, U: Real>(s: &mut [T]) -> &mut [U] {
    assert!(T::PRECISION == U::PRECISION, "precision mismatch");
    // SAFETY: as in `same`: T and U are the same type.
    unsafe { std::slice::from_raw_parts_mut(s.as_mut_ptr() as *mut U, s.len()) }
}
