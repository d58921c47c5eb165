//! Integration tests: one binary, one module per topic, shared helpers in `support`.

mod check_real;
mod cli;
mod discover;
mod engine;
mod harness;
mod packaging;
mod recreate_cli;
mod refresh;
mod registry_auth;
mod registry_fake;
mod registry_media;
mod ship;
mod support;
mod test_command;
