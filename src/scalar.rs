//! The floating-point types oxifmm computes in (`f32` and `f64`, [`Real`]), the one cast
//! between a generic `T: Real` slice and the concrete type it is, which routes generic code to
//! the per-precision SIMD kernels, and the values kernels take ([`Value`]): real (`f32`,
//! `f64`) or complex ([`Complex<f32>`], [`Complex<f64>`]), and how the evaluator, which computes
//! in reals, sees them: a value is `REALS` consecutive reals (a complex one its real then its
//! imaginary part), and a kernel value as a linear map on those reals is a `REALS x REALS`
//! real block (`a + ib` acts as `[[a, -b], [b, a]]`).

use std::fmt::{Debug, Display};
use std::ops::{Add, AddAssign, Div, Mul, MulAssign, Neg, Sub, SubAssign};

pub use faer::complex::Complex;

/// Which precision a [`Real`] is (also the command line's `--precision f32|f64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum Precision {
    /// Single precision (float32).
    F32,
    /// Double precision (float64).
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

    /// The machine epsilon of the precision (`f32::EPSILON` or `f64::EPSILON`, as f64).
    pub fn epsilon(self) -> f64 {
        match self {
            Precision::F32 => f32::EPSILON as f64,
            Precision::F64 => f64::EPSILON,
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

/// A real or complex scalar: what a kernel's values, densities and potentials are.
/// Implemented for `f32`, `f64`, `Complex<f32>` and `Complex<f64>` (sealed).
pub trait Value:
    Copy
    + Default
    + Debug
    + PartialEq
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Mul<Output = Self>
    + AddAssign
    + value_sealed::Sealed
{
    /// The real type of its parts.
    type Real: Real;
    /// Reals per value: 1 (real) or 2 (complex).
    const REALS: usize;

    /// The real part.
    fn re(self) -> Self::Real;
    /// The imaginary part (0 for a real value).
    fn im(self) -> Self::Real;
    /// The value `re + i im`; a real value takes `re` (and ignores `im`).
    fn from_parts(re: Self::Real, im: Self::Real) -> Self;
    /// Whether every part is finite (neither NaN nor infinite).
    fn all_finite(self) -> bool {
        Real::is_finite(self.re()) && Real::is_finite(self.im())
    }
    /// The same value in another value type of the same kind (another precision).
    fn cast<V: Value>(self) -> V {
        V::from_parts(
            V::Real::from_f64(self.re().to_f64()),
            V::Real::from_f64(self.im().to_f64()),
        )
    }
    /// Entry `(row, col)` (both below `REALS`) of the real `REALS x REALS` matrix by which
    /// multiplying by this value acts on the parts: `[[re, -im], [im, re]]`.
    fn block(self, row: usize, col: usize) -> Self::Real {
        match (row, col) {
            (0, 0) | (1, 1) => self.re(),
            (1, 0) => self.im(),
            _ => -self.im(),
        }
    }
    /// The values as their parts: `REALS` reals each.
    fn as_reals(values: &[Self]) -> &[Self::Real];
    /// Mutable version of [`Value::as_reals`].
    fn as_reals_mut(values: &mut [Self]) -> &mut [Self::Real];
    /// Reals read as values, `REALS` at a time.
    ///
    /// # Panics
    ///
    /// When the length is not a multiple of `REALS`.
    fn from_reals(reals: &[Self::Real]) -> &[Self];
    /// Mutable version of [`Value::from_reals`].
    fn from_reals_mut(reals: &mut [Self::Real]) -> &mut [Self];
}

mod value_sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
    impl Sealed for super::Complex<f32> {}
    impl Sealed for super::Complex<f64> {}
}

macro_rules! real_value {
    ($t:ty) => {
        impl Value for $t {
            type Real = $t;
            const REALS: usize = 1;
            #[inline(always)]
            fn re(self) -> $t {
                self
            }
            #[inline(always)]
            fn im(self) -> $t {
                0.0
            }
            #[inline(always)]
            fn from_parts(re: $t, _im: $t) -> Self {
                re
            }
            #[inline(always)]
            fn as_reals(values: &[Self]) -> &[$t] {
                values
            }
            #[inline(always)]
            fn as_reals_mut(values: &mut [Self]) -> &mut [$t] {
                values
            }
            #[inline(always)]
            fn from_reals(reals: &[$t]) -> &[Self] {
                reals
            }
            #[inline(always)]
            fn from_reals_mut(reals: &mut [$t]) -> &mut [Self] {
                reals
            }
        }
    };
}
real_value!(f32);
real_value!(f64);

macro_rules! complex_value {
    ($t:ty) => {
        impl Value for Complex<$t> {
            type Real = $t;
            const REALS: usize = 2;
            #[inline(always)]
            fn re(self) -> $t {
                self.re
            }
            #[inline(always)]
            fn im(self) -> $t {
                self.im
            }
            #[inline(always)]
            fn from_parts(re: $t, im: $t) -> Self {
                Complex::new(re, im)
            }
            #[inline(always)]
            fn as_reals(values: &[Self]) -> &[$t] {
                // SAFETY: `Complex<T>` is `#[repr(C)] { re: T, im: T }`: two `T` with the
                // alignment of `T` and no padding, so `n` values are `2n` reals in order.
                unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), 2 * values.len()) }
            }
            #[inline(always)]
            fn as_reals_mut(values: &mut [Self]) -> &mut [$t] {
                // SAFETY: as in `as_reals`; the borrow is exclusive and carried over.
                unsafe {
                    std::slice::from_raw_parts_mut(values.as_mut_ptr().cast(), 2 * values.len())
                }
            }
            #[inline(always)]
            fn from_reals(reals: &[$t]) -> &[Self] {
                assert!(
                    reals.len() % 2 == 0,
                    "an odd number of reals for complex values"
                );
                // SAFETY: the layout of `as_reals`, read back: the pointer is aligned for `T`,
                // which is `Complex<T>`'s alignment, and the length is even.
                unsafe { std::slice::from_raw_parts(reals.as_ptr().cast(), reals.len() / 2) }
            }
            #[inline(always)]
            fn from_reals_mut(reals: &mut [$t]) -> &mut [Self] {
                assert!(
                    reals.len() % 2 == 0,
                    "an odd number of reals for complex values"
                );
                // SAFETY: as in `from_reals`; the borrow is exclusive and carried over.
                unsafe {
                    std::slice::from_raw_parts_mut(reals.as_mut_ptr().cast(), reals.len() / 2)
                }
            }
        }
    };
}
complex_value!(f32);
complex_value!(f64);

#[cfg(test)]
mod value_tests {
    use super::*;

    #[test]
    fn complex_values_are_their_parts_in_order() {
        let v = [Complex::new(1.0f64, 2.0), Complex::new(3.0, -4.0)];
        assert_eq!(Complex::as_reals(&v), [1.0, 2.0, 3.0, -4.0]);
        assert_eq!(Complex::<f64>::from_reals(&[1.0, 2.0, 3.0, -4.0]), v);
        let z = Complex::new(0.5f64, -2.0);
        // (a + ib)(x + iy) through the block.
        let (x, y) = (3.0, 7.0);
        let prod = z * Complex::new(x, y);
        assert_eq!(z.block(0, 0) * x + z.block(0, 1) * y, prod.re);
        assert_eq!(z.block(1, 0) * x + z.block(1, 1) * y, prod.im);
        let w: Complex<f32> = z.cast();
        assert_eq!((w.re, w.im), (0.5, -2.0));
        assert_eq!(2.5f64.block(0, 0), 2.5);
        assert!(!Complex::new(1.0, f64::NAN).all_finite());
    }

    #[test]
    #[should_panic(expected = "odd number")]
    fn odd_reals_are_refused() {
        let _ = Complex::<f32>::from_reals(&[1.0, 2.0, 3.0]);
    }
}
