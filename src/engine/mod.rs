//! TEMP STUB
use anyhow::Result;
pub struct Engine;
impl Engine {
    pub fn connect() -> Result<Engine> {
        anyhow::bail!("stub")
    }
    pub fn platform(&self) -> Result<crate::registry::Platform> {
        anyhow::bail!("stub")
    }
    pub fn image_references(&self) -> Result<Vec<String>> {
        Ok(vec![])
    }
    pub fn local_repo_digests(
        &self,
        _r: &crate::reference::Reference,
    ) -> Result<Option<Vec<String>>> {
        Ok(None)
    }
}
