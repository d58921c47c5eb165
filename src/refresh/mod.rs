//! TEMP STUB
use crate::engine::Engine;
pub struct Job<'a> {
    pub runtime: &'a str,
    pub reference: &'a crate::reference::Reference,
    pub digest: &'a str,
    pub platform: &'a crate::registry::Platform,
    pub credentials: Option<&'a crate::registry::Credentials>,
    pub recreate: bool,
    pub strategy: crate::config::Strategy,
    pub container_prefix: &'a str,
    pub health_timeout: std::time::Duration,
    pub cleanup: bool,
    pub dry_run: bool,
}
pub struct Outcome {
    pub containers: Vec<crate::report::ContainerReport>,
    pub error: Option<String>,
}
pub fn refresh(_e: &Engine, _j: &Job) -> Outcome {
    Outcome {
        containers: vec![],
        error: Some("stub".into()),
    }
}
pub fn recover(_e: &Engine) -> anyhow::Result<Vec<crate::report::ContainerReport>> {
    Ok(vec![])
}
