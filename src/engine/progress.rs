//! Pull progress: a bar on a terminal, a few log lines otherwise.
//!
//! The engine reports per-layer states (`Pulling fs layer`, `Downloading` with byte counts,
//! `Pull complete`, `Already exists`). On a terminal they feed one bar of bytes and layers;
//! under systemd they become one log line every few seconds, so the journal sees that a
//! pull moves without a line per progress message.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use bollard::models::CreateImageInfo;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often the log form reports a pull that is still moving.
const LOG_EVERY: Duration = Duration::from_secs(5);

/// Progress of one pull.
pub struct Progress {
    name: String,
    bar: Option<ProgressBar>,
    layers: BTreeMap<String, Layer>,
    started: Instant,
    logged: Instant,
    changed: bool,
}

#[derive(Default)]
struct Layer {
    current: u64,
    total: u64,
    done: bool,
    cached: bool,
}

impl Progress {
    /// Starts showing the pull of `name`: a bar when stderr is a terminal.
    pub fn start(name: &str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            let style =
                ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(format!("pulling {name}"));
            bar
        });
        let now = Instant::now();
        Progress {
            name: name.to_string(),
            bar,
            layers: BTreeMap::new(),
            started: now,
            logged: now,
            changed: false,
        }
    }

    /// Takes one message of the engine's progress stream.
    pub fn update(&mut self, info: &CreateImageInfo) {
        let (Some(id), Some(status)) = (info.id.as_deref(), info.status.as_deref()) else {
            return;
        };
        let detail = info.progress_detail.as_ref();
        let bytes = |v: Option<i64>| v.and_then(|n| u64::try_from(n).ok());
        match status {
            "Pulling fs layer" | "Waiting" => {
                self.layers.entry(id.to_string()).or_default();
            }
            "Downloading" => {
                let layer = self.layers.entry(id.to_string()).or_default();
                if let Some(total) = bytes(detail.and_then(|d| d.total)) {
                    layer.total = total;
                }
                if let Some(current) = bytes(detail.and_then(|d| d.current)) {
                    layer.current = current;
                }
            }
            "Verifying Checksum" | "Download complete" | "Extracting" => {
                let layer = self.layers.entry(id.to_string()).or_default();
                layer.current = layer.total;
            }
            "Pull complete" => {
                let layer = self.layers.entry(id.to_string()).or_default();
                layer.current = layer.total;
                layer.done = true;
            }
            "Already exists" => {
                let layer = self.layers.entry(id.to_string()).or_default();
                layer.done = true;
                layer.cached = true;
            }
            _ => return,
        }
        self.changed = true;
        self.show();
    }

    /// Ends the display: clears the bar and logs a summary line.
    pub fn finish(&mut self, ok: bool) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        let fetched = self.layers.values().filter(|l| !l.cached).count();
        let bytes: u64 = self.layers.values().map(|l| l.total).sum();
        if ok {
            tracing::info!(
                image = %self.name,
                layers = self.layers.len(),
                fetched,
                bytes,
                seconds = format!("{:.1}", self.started.elapsed().as_secs_f64()),
                "pulled"
            );
        }
    }

    fn show(&mut self) {
        let total: u64 = self.layers.values().map(|l| l.total).sum();
        let current: u64 = self.layers.values().map(|l| l.current).sum();
        let done = self.layers.values().filter(|l| l.done).count();
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(current);
            bar.set_message(format!("{done}/{} layers", self.layers.len()));
            return;
        }
        if self.changed && self.logged.elapsed() >= LOG_EVERY {
            tracing::info!(
                image = %self.name,
                layers_done = done,
                layers = self.layers.len(),
                bytes_done = current,
                bytes = total,
                "pulling"
            );
            self.logged = Instant::now();
            self.changed = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::ProgressDetail;

    fn message(
        id: &str,
        status: &str,
        current: Option<i64>,
        total: Option<i64>,
    ) -> CreateImageInfo {
        CreateImageInfo {
            id: Some(id.to_string()),
            status: Some(status.to_string()),
            progress_detail: Some(ProgressDetail { current, total }),
            ..Default::default()
        }
    }

    #[test]
    fn counts_layers_and_bytes() {
        let mut progress = Progress::start("x");
        progress.bar = None;
        progress.update(&message("latest", "Pulling from org/x", None, None));
        progress.update(&message("a", "Pulling fs layer", None, None));
        progress.update(&message("b", "Already exists", None, None));
        progress.update(&message("a", "Downloading", Some(50), Some(100)));
        assert_eq!(progress.layers.len(), 2);
        assert_eq!(progress.layers["a"].current, 50);
        progress.update(&message("a", "Pull complete", None, None));
        assert!(progress.layers.values().all(|l| l.done));
        assert_eq!(progress.layers["a"].current, 100);
    }
}
