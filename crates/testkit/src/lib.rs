//! What the test suites share: a fresh database per test on either store backend, the
//! `#[conformance]` attribute that runs one test on both, and the rule for tests that need
//! a service (PostgreSQL, NATS) this machine may not run.
//!
//! A dev-dependency only: nothing here ships in the binary. It knows how to create and drop
//! a database (through `store`'s helpers); it knows nothing of Ovation's schema or API.
//!
//! - PostgreSQL comes from `OVATION_TEST_POSTGRES_URL` (default
//!   `postgres://postgres@127.0.0.1:5432/test`): each test gets a database of its own,
//!   created from there and dropped (with its connections) when the test ends.
//! - NATS comes from `OVATION_TEST_NATS_URL` (default `nats://127.0.0.1:4222`).
//! - When a service is not reachable, its tests print why and pass, unless
//!   `OVATION_TEST_REQUIRE_SERVICES=1` (as in CI), where they fail.

use std::future::Future;
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

pub use testkit_macros::conformance;

/// A store backend a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file in a temporary directory.
    Sqlite,
    /// A database of its own on the test PostgreSQL server.
    Postgres,
}

tokio::task_local! {
    static BACKEND: Backend;
}

/// The backend of the running `#[conformance]` test; SQLite outside one.
pub fn backend() -> Backend {
    BACKEND.try_with(|b| *b).unwrap_or(Backend::Sqlite)
}

/// Runs `test` with [`backend`] answering `backend`, or skips it (saying why) when that
/// backend's server is not reachable and not required.
pub async fn run_on(backend: Backend, test: impl Future<Output = ()>) {
    if backend == Backend::Postgres && postgres_url().is_none() {
        return;
    }
    BACKEND.scope(backend, test).await;
}

/// Whether tests must fail, rather than skip, when a service is missing.
pub fn services_required() -> bool {
    std::env::var("OVATION_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1")
}

/// The server PostgreSQL tests create their databases on, or `None` (after saying why,
/// once per process) when it is not reachable and not required.
pub fn postgres_url() -> Option<&'static str> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("OVATION_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        reachable("PostgreSQL", &url).then_some(url)
    })
    .as_deref()
}

/// The NATS server, or `None` (after saying why) when it is not reachable and not required.
pub fn nats_url() -> Option<String> {
    let url =
        std::env::var("OVATION_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    reachable("NATS", &url).then_some(url)
}

/// Whether `host:port` of `url` accepts a TCP connection; panics when it does not and
/// services are required.
fn reachable(service: &str, url: &str) -> bool {
    let address = host_port(url);
    let error = match address.parse() {
        Ok(addr) => match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            Ok(_) => return true,
            Err(e) => e.to_string(),
        },
        // A name rather than an address: let the connection resolve it.
        Err(_) => match TcpStream::connect(address) {
            Ok(_) => return true,
            Err(e) => e.to_string(),
        },
    };
    assert!(
        !services_required(),
        "OVATION_TEST_REQUIRE_SERVICES=1 but {service} is not reachable at {url}: {error}"
    );
    eprintln!("skipping the {service} tests: {service} is not reachable at {url}: {error}");
    false
}

/// `host:port` of `scheme://[user[:password]@]host:port[/…]`.
pub fn host_port(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split(['/', ',', '?']).next().unwrap_or(rest)
}

/// A port on 127.0.0.1 that nothing listened on a moment ago.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

/// A `nats-server` of the test's own on 127.0.0.1, to stop and start again (the shared
/// one must stay up for the other tests); killed when dropped, also when the test panics.
#[derive(Debug)]
pub struct OwnNats {
    child: std::process::Child,
    port: u16,
}

impl OwnNats {
    /// Whether a `nats-server` binary can be started here (Debian's `nats-server` package);
    /// when it cannot, says so, and panics if services are required.
    pub fn available() -> bool {
        let installed = std::process::Command::new("nats-server")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        assert!(
            installed || !services_required(),
            "OVATION_TEST_REQUIRE_SERVICES=1 but there is no nats-server binary to start"
        );
        if !installed {
            eprintln!(
                "skipping: no nats-server binary to start and stop (apt-get install nats-server)"
            );
        }
        installed
    }

    /// Starts one on `port` and waits until it listens.
    pub fn start(port: u16) -> OwnNats {
        let child = std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start nats-server");
        let server = OwnNats { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// `nats://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnNats {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// A TCP proxy on 127.0.0.1 in front of a server, that a test cuts to make the server
/// unreachable (every connection through it is dropped and new ones are refused, as when
/// the server's host goes away) and restores on the same port. The server itself stays up
/// for the other tests.
#[derive(Debug)]
pub struct CutProxy {
    addr: std::net::SocketAddr,
    upstream: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl CutProxy {
    /// A proxy to `upstream` (`host:port`) on a free port, up.
    pub async fn start(upstream: &str) -> CutProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let proxy = CutProxy {
            addr,
            upstream: upstream.to_owned(),
            up: tokio::sync::watch::Sender::new(true),
        };
        proxy.serve(listener);
        proxy
    }

    /// `127.0.0.1:port`, where clients connect.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Drops every connection and stops listening: connecting is refused.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Listens again on the same port.
    pub async fn restore(&self) {
        // The old listener is closed when its task sees the cut; until then the port is
        // taken, so binding is retried for a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => break listener,
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "rebind the proxy: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        };
        self.up.send_replace(true);
        self.serve(listener);
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let mut up = self.up.subscribe();
        let upstream = self.upstream.clone();
        let links = self.up.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = up.wait_for(|up| !up) => return,
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { continue };
                        let mut cut = links.subscribe();
                        let upstream = upstream.clone();
                        tokio::spawn(async move {
                            let Ok(mut server) = tokio::net::TcpStream::connect(&upstream).await else {
                                return;
                            };
                            tokio::select! {
                                _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                                _ = cut.wait_for(|up| !up) => {}
                            }
                        });
                    }
                }
            }
        });
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.up.send_replace(false);
    }
}

/// A database for one test, removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    url: String,
    place: Place,
}

#[derive(Debug)]
enum Place {
    /// The directory holding the file, removed with it.
    Sqlite {
        _dir: tempfile::TempDir,
    },
    Postgres {
        server: String,
        name: String,
    },
}

impl TestDb {
    /// A fresh, empty database on [`backend`]. Panics when that backend is not reachable:
    /// tests reach here through [`run_on`], which skipped them already.
    pub async fn fresh() -> TestDb {
        match backend() {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let path: PathBuf = dir.path().join("ovation.db");
                TestDb {
                    url: format!("sqlite://{}", path.display()),
                    place: Place::Sqlite { _dir: dir },
                }
            }
            Backend::Postgres => {
                let server = postgres_url().expect("PostgreSQL is reachable").to_owned();
                let name = format!("ovation_t_{}", uuid::Uuid::new_v4().simple());
                let url = store::create_database(&server, &name)
                    .await
                    .unwrap_or_else(|e| panic!("create database {name}: {e}"));
                TestDb {
                    url,
                    place: Place::Postgres { server, name },
                }
            }
        }
    }

    /// The database URL, as `OVATION_DATABASE_URL` takes it.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Place::Postgres { server, name } = &self.place else {
            return;
        };
        // Drop runs inside the test's runtime, which must not be blocked on itself: the
        // database is dropped from a thread of its own, with connections still open to it
        // (the server under test may not have closed its pool) ended by FORCE.
        let (server, name) = (server.clone(), name.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(store::drop_database(&server, &name))
        })
        .join();
        if let Ok(Err(e)) = dropped {
            eprintln!("could not drop the test database: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_skips_credentials_and_paths() {
        assert_eq!(host_port("nats://u:p@127.0.0.1:4222"), "127.0.0.1:4222");
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/test"),
            "127.0.0.1:5432"
        );
    }
}
