//! Dense linear algebra: the column-major operand type, products over faer and the generated
//! fixed-size kernels, and the decompositions of the operator precomputation.

pub(crate) mod decompose;
mod dense;
pub(crate) mod fixed;
mod mat;

pub(crate) use dense::{gemm, gemm_surface};
pub(crate) use fixed::Shape;
pub(crate) use mat::Mat;
