//! Geometry of the tree's boxes: the domain, Morton keys, check/equivalent surfaces and the
//! transfer-vector codec.

pub mod domain;
pub mod morton;
pub mod surface;
pub mod transfer;

pub use domain::Domain;
pub use morton::MortonKey;
