//! Points, charges and results of a run-time configured FMM: borrowed when their type is the
//! run's, converted otherwise.

use std::any::Any;
use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::scalar::{Complex, Precision, Real, Value, same};

/// Point coordinates, row-major: point `i` is `coords[i * dim..(i + 1) * dim]`.
#[derive(Clone, Copy, Debug)]
pub enum Coords<'a> {
    /// Single precision.
    F32(&'a [f32]),
    /// Double precision.
    F64(&'a [f64]),
}

impl Coords<'_> {
    /// The precision of the coordinates.
    pub fn precision(&self) -> Precision {
        match self {
            Coords::F32(_) => Precision::F32,
            Coords::F64(_) => Precision::F64,
        }
    }

    fn len(&self) -> usize {
        match self {
            Coords::F32(c) => c.len(),
            Coords::F64(c) => c.len(),
        }
    }

    /// As points of `[T; D]`: borrowed when the precision is `T`'s, else converted.
    pub(crate) fn points<T: Real, const D: usize>(
        &self,
        what: &'static str,
    ) -> Result<Cow<'_, [[T; D]]>> {
        if !self.len().is_multiple_of(D) {
            return Err(Error::InvalidParameter {
                name: what,
                reason: format!(
                    "{} coordinates do not make {D}D points (not a multiple of {D})",
                    self.len()
                ),
            });
        }
        fn view<S: Real, T: Real, const D: usize>(c: &[S]) -> Cow<'_, [[T; D]]> {
            if S::PRECISION == T::PRECISION {
                Cow::Borrowed(same::<S, T>(c).as_chunks::<D>().0)
            } else {
                Cow::Owned(
                    c.as_chunks::<D>()
                        .0
                        .iter()
                        .map(|p| p.map(|x| T::from_f64(x.to_f64())))
                        .collect(),
                )
            }
        }
        Ok(match self {
            Coords::F32(c) => view::<f32, T, D>(c),
            Coords::F64(c) => view::<f64, T, D>(c),
        })
    }
}

/// Charges given at run time: real or complex, single or double precision.
#[derive(Clone, Copy, Debug)]
pub enum Values<'a> {
    /// Real, single precision.
    F32(&'a [f32]),
    /// Real, double precision.
    F64(&'a [f64]),
    /// Complex, single precision.
    C32(&'a [Complex<f32>]),
    /// Complex, double precision.
    C64(&'a [Complex<f64>]),
}

impl Values<'_> {
    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::C32(v) => v.len(),
            Values::C64(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the values are complex.
    pub fn is_complex(&self) -> bool {
        matches!(self, Values::C32(_) | Values::C64(_))
    }

    /// As values of `V`: borrowed when the type is `V`, else converted (real values widen to
    /// complex ones with a zero imaginary part; complex values for a real `V` are an error).
    pub(crate) fn values<V: Value>(&self) -> Result<Cow<'_, [V]>> {
        if self.is_complex() && V::REALS == 1 {
            return Err(Error::InvalidParameter {
                name: "charges",
                reason: "the charges are complex but the kernel is real: give real charges \
                         or use a complex kernel (Helmholtz)"
                    .into(),
            });
        }
        fn view<S: Value, V: Value>(v: &[S]) -> Cow<'_, [V]> {
            if S::REALS == V::REALS && S::Real::PRECISION == V::Real::PRECISION {
                Cow::Borrowed(V::from_reals(same::<S::Real, V::Real>(S::as_reals(v))))
            } else {
                Cow::Owned(v.iter().map(|x| x.cast::<V>()).collect())
            }
        }
        Ok(match self {
            Values::F32(v) => view::<f32, V>(v),
            Values::F64(v) => view::<f64, V>(v),
            Values::C32(v) => view::<Complex<f32>, V>(v),
            Values::C64(v) => view::<Complex<f64>, V>(v),
        })
    }
}

/// Owned results of a run-time configured FMM, in the type of the computation.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueVec {
    /// Real, single precision.
    F32(Vec<f32>),
    /// Real, double precision.
    F64(Vec<f64>),
    /// Complex, single precision.
    C32(Vec<Complex<f32>>),
    /// Complex, double precision.
    C64(Vec<Complex<f64>>),
}

impl ValueVec {
    pub(crate) fn of<V: Value>(v: Vec<V>) -> Self {
        let any: Box<dyn Any> = Box::new(v);
        let any = match any.downcast::<Vec<f32>>() {
            Ok(v) => return ValueVec::F32(*v),
            Err(a) => a,
        };
        let any = match any.downcast::<Vec<f64>>() {
            Ok(v) => return ValueVec::F64(*v),
            Err(a) => a,
        };
        let any = match any.downcast::<Vec<Complex<f32>>>() {
            Ok(v) => return ValueVec::C32(*v),
            Err(a) => a,
        };
        match any.downcast::<Vec<Complex<f64>>>() {
            Ok(v) => ValueVec::C64(*v),
            Err(_) => unreachable!("Value is sealed: f32, f64, Complex<f32>, Complex<f64>"),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            ValueVec::F32(v) => v.len(),
            ValueVec::F64(v) => v.len(),
            ValueVec::C32(v) => v.len(),
            ValueVec::C64(v) => v.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as reals in f64 (a complex value as its two parts).
    pub fn to_f64_reals(&self) -> Vec<f64> {
        fn wide<V: Value>(v: &[V]) -> Vec<f64> {
            V::as_reals(v).iter().map(|x| x.to_f64()).collect()
        }
        match self {
            ValueVec::F32(v) => wide(v),
            ValueVec::F64(v) => wide(v),
            ValueVec::C32(v) => wide(v),
            ValueVec::C64(v) => wide(v),
        }
    }
}

/// Potentials (and gradients) of a [`DynFmm`](super::DynFmm) evaluation, in the caller's target order.
#[derive(Clone, Debug, PartialEq)]
pub struct DynOutput {
    /// One value per target.
    pub potentials: ValueVec,
    /// `D` values per target (`[dphi/dx_0, .., dphi/dx_{D-1}]`), when gradients were asked.
    pub gradients: Option<ValueVec>,
}
