//! `ovation serve --demo`: seeds a creator, viewers, a running live, comments and some
//! purchases through the API itself (the same handlers a platform calls), so a newcomer
//! sees it working at once.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::router;
use crate::state::AppState;

pub use crate::state::Demo;

async fn call(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> anyhow::Result<(StatusCode, Value)> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let request = request.body(match body {
        Some(b) => Body::from(b.to_string()),
        None => Body::empty(),
    })?;
    let response = router(state.clone()).oneshot(request).await?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await?;
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)?
    };
    Ok((status, value))
}

async fn expect(
    state: &AppState,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    key: Option<&str>,
) -> anyhow::Result<Value> {
    let (status, value) = call(state, token, method, path, body, key).await?;
    anyhow::ensure!(
        status.is_success(),
        "demo: {method} {path} answered {status}: {value}"
    );
    Ok(value)
}

fn field(v: &Value, name: &str) -> anyhow::Result<String> {
    v.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("demo: answer has no {name}: {v}"))
}

/// Seeds the demo; handles get a random suffix so a demo can run twice on one database.
pub async fn seed(state: &AppState, admin_token: &str) -> anyhow::Result<Demo> {
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..6];
    let creator_handle = format!("ana.live_{suffix}");
    let creator = expect(state, admin_token, "POST", "/v1/accounts",
        Some(json!({"handle": creator_handle, "kind": "creator", "country": "US", "birth_date": "1994-05-17", "followers": 48000})), None).await?;
    let creator_id = field(&creator, "id")?;
    let creator_token = field(
        &expect(
            state,
            admin_token,
            "POST",
            &format!("/v1/accounts/{creator_id}/tokens"),
            None,
            None,
        )
        .await?,
        "token",
    )?;
    let live = expect(
        state,
        &creator_token,
        "POST",
        "/v1/lives",
        Some(json!({"title": "Sunday sketching, live", "goal_hearts": 50})),
        None,
    )
    .await?;
    let live_id = field(&live, "id")?;
    let mut viewers = Vec::new();
    for (i, (name, country)) in [("bruno", "BR"), ("chloe", "FR"), ("kenji", "JP")]
        .into_iter()
        .enumerate()
    {
        let handle = format!("{name}_{suffix}");
        let viewer = expect(state, admin_token, "POST", "/v1/accounts",
            Some(json!({"handle": handle, "kind": "viewer", "country": country, "birth_date": "1990-01-01"})), None).await?;
        let id = field(&viewer, "id")?;
        let token = field(
            &expect(
                state,
                admin_token,
                "POST",
                &format!("/v1/accounts/{id}/tokens"),
                None,
                None,
            )
            .await?,
            "token",
        )?;
        let tier = i + 1;
        expect(
            state,
            &token,
            "POST",
            &format!("/v1/lives/{live_id}/badges"),
            Some(json!({"tier": tier, "payment_method": "pm_card_visa"})),
            Some(&format!("demo-{suffix}-{i}")),
        )
        .await?;
        expect(
            state,
            &token,
            "POST",
            &format!("/v1/lives/{live_id}/comments"),
            Some(json!({"text": format!("hello from {country}!")})),
            None,
        )
        .await?;
        viewers.push((handle, id, token));
    }
    let demo = Demo {
        creator: (creator_id, creator_token),
        creator_handle,
        admin_token: admin_token.to_owned(),
        viewers,
        live_id,
    };
    // The home page offers the demo's accounts (only ever set by `serve --demo`).
    let _ = state.demo.set(demo.clone());
    Ok(demo)
}
