//! imgwatch: watch workspace-template images and refresh the containers built from them.
//!
//! The binary is a thin shell over this library so that integration tests drive the
//! same modules the command runs.

pub mod app;
pub mod atomic;
pub mod cli;
pub mod config;
pub mod docs;
pub mod engine;
pub mod hooks;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod reference;
pub mod refresh;
pub mod registry;
pub mod report;
pub mod run;
pub mod settings;
pub mod state;
pub mod webhook;
