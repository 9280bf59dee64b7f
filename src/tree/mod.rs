//! The tree stage: points sorted along the Morton curve into an adaptive, 2:1-balanced linear
//! tree, and the interaction lists over it.

mod balance;
pub mod csr;
pub mod linear_tree;
pub mod lists;
pub mod refine;
pub(crate) mod sort;

pub use csr::Csr;
pub use linear_tree::{LinearTree, NONE};
pub use lists::InteractionLists;
pub use refine::{Refinement, TreeOptions};
