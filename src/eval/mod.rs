//! The evaluation stage: the static task graph over the tree (`schedule.rs`, [`graph`]), its
//! buffers (`workspace.rs`), and the passes its tasks run (`upward.rs`, `m2l.rs`,
//! `downward.rs`, `leaves.rs`), reached from `Ctx::run` in `context.rs`.

pub(crate) mod context;
mod downward;
pub mod graph;
mod leaves;
mod m2l;
pub(crate) mod schedule;
mod upward;
pub(crate) mod workspace;

pub use graph::{Op, Task, TaskGraph};
