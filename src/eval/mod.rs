//! The evaluation stage: the static task graph over the tree ([`schedule`], [`graph`]), its
//! buffers ([`workspace`]), and the passes its tasks run ([`upward`], [`m2l`], [`downward`],
//! [`leaves`]), reached from [`context::Ctx::run`].

pub(crate) mod context;
mod downward;
pub mod graph;
mod leaves;
mod m2l;
pub(crate) mod schedule;
mod upward;
pub(crate) mod workspace;

pub use graph::{Op, Task, TaskGraph};
