//! The floating-point types oxifmm computes in: `f32` and `f64`.

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

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
    + sealed::Sealed
{
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
    /// `Some(s)` when `Self` is `f32`, else `None`: a safe cast used to route generic code to
    /// the f32 SIMD microkernels.
    fn as_f32_slice(s: &[Self]) -> Option<&[f32]>;
    /// `Some(s)` when `Self` is `f64`, else `None`.
    fn as_f64_slice(s: &[Self]) -> Option<&[f64]>;
    /// `Some(s)` when `Self` is `f32`, else `None`.
    fn as_f32_slice_mut(s: &mut [Self]) -> Option<&mut [f32]>;
    /// `Some(s)` when `Self` is `f64`, else `None`.
    fn as_f64_slice_mut(s: &mut [Self]) -> Option<&mut [f64]>;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

macro_rules! impl_real {
    ($t:ty, $p:expr, $some:ident, $some_mut:ident, $none:ident, $none_mut:ident, $other:ty) => {
        impl Real for $t {
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
            #[inline(always)]
            fn $some(s: &[Self]) -> Option<&[$t]> {
                Some(s)
            }
            #[inline(always)]
            fn $some_mut(s: &mut [Self]) -> Option<&mut [$t]> {
                Some(s)
            }
            #[inline(always)]
            fn $none(_: &[Self]) -> Option<&[$other]> {
                None
            }
            #[inline(always)]
            fn $none_mut(_: &mut [Self]) -> Option<&mut [$other]> {
                None
            }
        }
    };
}
impl_real!(
    f32,
    Precision::F32,
    as_f32_slice,
    as_f32_slice_mut,
    as_f64_slice,
    as_f64_slice_mut,
    f64
);
impl_real!(
    f64,
    Precision::F64,
    as_f64_slice,
    as_f64_slice_mut,
    as_f32_slice,
    as_f32_slice_mut,
    f32
);
