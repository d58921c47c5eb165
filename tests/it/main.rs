//! Integration tests: one binary, one module per topic, shared helpers in `support`.

mod engine;
mod harness;
mod refresh;
mod support;
mod test_command;
