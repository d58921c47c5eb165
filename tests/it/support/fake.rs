//! An in-process fake registry for what a real one will not do on demand: odd challenges,
//! missing or malformed digests, error statuses, slow and oversized answers.
//!
//! Each test gives a handler that maps a request to a response; the fake records every
//! request so tests can count what imgwatch cost the registry.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use tiny_http::{Header, Response, Server, StatusCode};

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path with query.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without its query.
    pub fn path(&self) -> &str {
        self.url.split('?').next().unwrap_or("")
    }
}

/// What the fake answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Answer {
    /// An answer with a status and no body.
    pub fn status(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Answer {
        self.body = body.into();
        self
    }

    /// Delays the answer.
    pub fn delay(mut self, delay: Duration) -> Answer {
        self.delay = delay;
        self
    }

    /// A JSON body with its content type.
    pub fn json(status: u16, value: serde_json::Value) -> Answer {
        Answer::status(status)
            .header("Content-Type", "application/json")
            .body(value.to_string())
    }
}

type Handler = dyn Fn(&Seen) -> Answer + Send + Sync;

/// A running fake registry on a loopback port; stops when dropped.
pub struct FakeRegistry {
    server: Arc<Server>,
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    worker: Option<thread::JoinHandle<()>>,
}

impl FakeRegistry {
    /// Starts the fake with a handler for every request.
    pub fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeRegistry {
        let server = Arc::new(Server::http("127.0.0.1:0").expect("bind a loopback port"));
        let port = server.server_addr().to_ip().expect("an IP address").port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let worker = {
            let (server, seen) = (server.clone(), seen.clone());
            thread::spawn(move || {
                for mut request in server.incoming_requests() {
                    let mut body = Vec::new();
                    let _ = request.as_reader().read_to_end(&mut body);
                    let request_seen = Seen {
                        method: request.method().to_string(),
                        url: request.url().to_string(),
                        headers: request
                            .headers()
                            .iter()
                            .map(|h| (h.field.to_string(), h.value.to_string()))
                            .collect(),
                        body,
                    };
                    seen.lock().unwrap().push(request_seen.clone());
                    let handler = handler.clone();
                    // Answer on a thread of its own so a slow answer does not hold others.
                    thread::spawn(move || {
                        let answer = handler(&request_seen);
                        thread::sleep(answer.delay);
                        let mut response = Response::from_data(answer.body)
                            .with_status_code(StatusCode(answer.status));
                        for (name, value) in answer.headers {
                            let header = Header::from_bytes(name.as_bytes(), value.as_bytes())
                                .expect("a valid header");
                            response.add_header(header);
                        }
                        let _ = request.respond(response);
                    });
                }
            })
        };
        FakeRegistry {
            server,
            port,
            seen,
            worker: Some(worker),
        }
    }

    /// `127.0.0.1:PORT`: the registry part of references.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests had this method and a path starting with `prefix`.
    pub fn count(&self, method: &str, prefix: &str) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == method && s.path().starts_with(prefix))
            .count()
    }
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// A digest made of one repeated hex digit.
pub fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

/// A manifest HEAD answer carrying a digest.
pub fn manifest_head(digest: &str, media_type: &str) -> Answer {
    Answer::status(200)
        .header("Content-Type", media_type)
        .header("Docker-Content-Digest", digest)
}

/// The OCI image manifest media type.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
