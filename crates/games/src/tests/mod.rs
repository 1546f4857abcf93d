#![allow(clippy::unwrap_used, clippy::expect_used)]

mod catalogue;
mod detector;
mod scan;
