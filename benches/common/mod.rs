//! Shared by the bench binaries: the workloads and the libraries under test.

pub mod peers;
pub mod workloads;
