//! Integration tests: the real `drover` binary, real Docker, real git.

mod bad_input;
mod common;
mod isolation;
mod task_flow;
