//! A lean HTTP/1.1 keep-alive client: one connection, one request at a time.

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// One keep-alive connection.
#[derive(Debug)]
pub(crate) struct Conn {
    sender: http1::SendRequest<Full<Bytes>>,
    host: String,
}

/// `host:port` of an `http://` base URL.
pub(crate) fn authority(base: &str) -> anyhow::Result<String> {
    let uri: hyper::Uri = base.parse().with_context(|| format!("bad url {base}"))?;
    anyhow::ensure!(
        uri.scheme_str() == Some("http"),
        "only http:// URLs are supported: {base}"
    );
    let host = uri.host().context("url without host")?;
    Ok(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

impl Conn {
    pub(crate) async fn connect(authority: &str) -> anyhow::Result<Conn> {
        let stream = TcpStream::connect(authority)
            .await
            .with_context(|| format!("cannot connect to {authority}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Conn {
            sender,
            host: authority.to_owned(),
        })
    }

    /// Sends one request and reads the whole answer.
    pub(crate) async fn send(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<Bytes>,
    ) -> anyhow::Result<(StatusCode, Bytes)> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.host.as_str())
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        Ok((status, bytes))
    }

    /// A `GET` with the given headers (no token); the status and the `location` header.
    pub(crate) async fn get_with(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<(StatusCode, Option<String>)> {
        let mut request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(header::HOST, self.host.as_str());
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Full::new(Bytes::new()))?;
        self.sender.ready().await?;
        let response = self.sender.send_request(request).await?;
        let status = response.status();
        let location = response
            .headers()
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        response.into_body().collect().await?;
        Ok((status, location))
    }

    /// Sends a JSON request that must succeed, and parses the answer.
    pub(crate) async fn expect(
        &mut self,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (status, bytes) = self
            .send(
                method.clone(),
                path,
                token,
                None,
                body.map(|b| Bytes::from(b.to_string())),
            )
            .await?;
        anyhow::ensure!(
            status.is_success(),
            "{method} {path} answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        Ok(serde_json::from_slice(&bytes)?)
    }
}

/// A string field of a JSON answer.
pub(crate) fn field(v: &Value, name: &str) -> anyhow::Result<String> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("answer has no {name}: {v}"))
}

/// What the benchmarks seed through the API: a creator with a running live, and viewers.
#[derive(Debug, Clone)]
pub(crate) struct Seeded {
    /// The creator's id and token.
    pub(crate) creator: (String, String),
    pub(crate) live_id: String,
    /// Viewers' ids and tokens.
    pub(crate) viewers: Vec<(String, String)>,
}

/// Seeds a creator (admin-created), its live, and `viewers` US viewers with tokens, over
/// `parallel` connections.
pub(crate) async fn seed(
    authority: &str,
    admin: &str,
    viewers: usize,
    parallel: usize,
) -> anyhow::Result<Seeded> {
    let tag = format!("{:x}", std::process::id() ^ rand_tag());
    let mut conn = Conn::connect(authority).await?;
    let creator = conn
        .expect(
            Method::POST,
            "/v1/accounts",
            admin,
            Some(
                serde_json::json!({"handle": format!("bench.creator_{tag}"), "kind": "creator",
                "country": "US", "birth_date": "1990-01-01", "followers": 100000}),
            ),
        )
        .await?;
    let creator_id = field(&creator, "id")?;
    let creator_token = field(
        &conn
            .expect(
                Method::POST,
                &format!("/v1/accounts/{creator_id}/tokens"),
                admin,
                None,
            )
            .await?,
        "token",
    )?;
    let live = conn
        .expect(
            Method::POST,
            "/v1/lives",
            &creator_token,
            Some(serde_json::json!({"title": "Benchmark live"})),
        )
        .await?;
    let live_id = field(&live, "id")?;

    let parallel = parallel.clamp(1, viewers.max(1));
    let mut tasks = Vec::with_capacity(parallel);
    for w in 0..parallel {
        let authority = authority.to_owned();
        let admin = admin.to_owned();
        let tag = tag.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&authority).await?;
            let mut out = Vec::new();
            for i in (w..viewers).step_by(parallel) {
                let v = conn
                    .expect(
                        Method::POST,
                        "/v1/accounts",
                        &admin,
                        Some(
                            serde_json::json!({"handle": format!("bv{i}_{tag}"), "kind": "viewer",
                            "country": "US", "birth_date": "1990-01-01"}),
                        ),
                    )
                    .await?;
                let id = field(&v, "id")?;
                let token = field(
                    &conn
                        .expect(
                            Method::POST,
                            &format!("/v1/accounts/{id}/tokens"),
                            &admin,
                            None,
                        )
                        .await?,
                    "token",
                )?;
                out.push((i, id, token));
            }
            Ok::<_, anyhow::Error>(out)
        }));
    }
    let mut all = Vec::with_capacity(viewers);
    for t in tasks {
        all.extend(t.await??);
    }
    all.sort_by_key(|(i, _, _)| *i);
    Ok(Seeded {
        creator: (creator_id, creator_token),
        live_id,
        viewers: all.into_iter().map(|(_, id, t)| (id, t)).collect(),
    })
}

/// A few random bits so that two runs against one server use distinct handles.
fn rand_tag() -> u32 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    nanos & 0x00ff_ffff
}
