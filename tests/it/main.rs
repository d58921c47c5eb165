//! Integration tests: one binary, one module per topic, shared helpers in `support`.

mod harness;
mod support;
mod test_command;
