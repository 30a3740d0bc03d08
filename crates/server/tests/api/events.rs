//! `GET /v1/lives/{id}/events`: the live's events over a WebSocket.

use testkit::conformance;

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

use crate::common::{TestApp, assert_money, spawn_app, spawn_app_with, string};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a test waits for an event that should come.
const WAIT: Duration = Duration::from_secs(5);

async fn connect_with_query(app: &TestApp, live: &str, token: &str) -> Socket {
    let url = app.ws_url(&format!("/v1/lives/{live}/events?token={token}"));
    let (socket, response) = connect_async(url).await.expect("the upgrade succeeds");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

async fn connect_with_header(app: &TestApp, live: &str, token: &str) -> Socket {
    let mut request = app
        .ws_url(&format!("/v1/lives/{live}/events"))
        .into_client_request()
        .expect("a request");
    request.headers_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("a header value"),
    );
    let (socket, response) = connect_async(request).await.expect("the upgrade succeeds");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// The next JSON event; panics on anything else or after [`WAIT`].
async fn next_event(socket: &mut Socket) -> Value {
    loop {
        let message = tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("an event within the wait")
            .expect("the socket is open")
            .expect("a message");
        match message {
            Message::Text(text) => {
                return serde_json::from_str(text.as_str()).expect("each message is JSON");
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text event, got {other:?}"),
        }
    }
}

/// Asserts the server closes the socket (a close frame, then the end of the stream).
async fn assert_closed(socket: &mut Socket) {
    let mut saw_close = false;
    loop {
        match tokio::time::timeout(WAIT, socket.next())
            .await
            .expect("the socket closes within the wait")
        {
            Some(Ok(Message::Close(_))) => saw_close = true,
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => panic!("expected the close, got {other:?}"),
            Some(Err(_)) | None => break,
        }
    }
    assert!(saw_close, "the server should send a close frame");
}

async fn upgrade_status(request: impl IntoClientRequest + Unpin) -> u16 {
    match connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[conformance]
async fn a_viewer_sees_comment_badge_and_live_ended_in_order_then_the_socket_closes() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "FR").await;
    let watcher = app.viewer("watcher", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let mut socket = connect_with_query(&app, &live, &watcher.token).await;

    let (status, plain) = app.comment(&bob.token, &live, "first").await;
    assert_eq!(status, 201);
    let purchase = app.bought(&bob.token, &live, 2).await;
    let (status, badged) = app.comment(&bob.token, &live, "second").await;
    assert_eq!(status, 201);
    let (status, _) = app.end_live(&ana.token, &live).await;
    assert_eq!(status, 200);

    let event = next_event(&mut socket).await;
    assert_eq!(event, json!({"type": "comment", "comment": plain}));
    assert_eq!(event["comment"]["badge"], json!(null));

    let event = next_event(&mut socket).await;
    assert_eq!(event["type"], json!("badge"));
    assert_eq!(event["viewer_handle"], json!("bob"));
    assert_eq!(event["purchase"]["id"], purchase["id"]);
    assert_eq!(event["purchase"]["tier"], json!(2));
    assert_eq!(event["purchase"]["hearts"], json!(2));
    // Every viewer is told of the badge, not of the buyer's id or country (the currency).
    assert_money(&purchase["price"], 219, "EUR");
    let fields = event["purchase"].as_object().expect("an object");
    assert!(!fields.contains_key("viewer_id"), "{event}");
    assert!(!fields.contains_key("price"), "{event}");
    assert!(!event.to_string().contains("EUR"), "{event}");

    let event = next_event(&mut socket).await;
    assert_eq!(event, json!({"type": "comment", "comment": badged}));
    assert_eq!(event["comment"]["badge"], json!({"tier": 2, "hearts": 2}));
    assert_eq!(event["comment"]["text"], json!("second"));

    let event = next_event(&mut socket).await;
    assert_eq!(event, json!({"type": "live_ended", "live_id": live}));
    assert_closed(&mut socket).await;
    app.verify().await;
}

#[conformance]
async fn the_token_may_be_an_authorization_header_and_every_viewer_gets_each_event() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let mut by_header = connect_with_header(&app, &live, &bob.token).await;
    let mut by_query = connect_with_query(&app, &live, &ana.token).await;
    let (_, comment) = app.comment(&bob.token, &live, "hi").await;
    for socket in [&mut by_header, &mut by_query] {
        let event = next_event(socket).await;
        assert_eq!(event["type"], json!("comment"));
        assert_eq!(event["comment"]["id"], comment["id"]);
        assert_eq!(string(&event["comment"], "author_handle"), "bob");
    }
    app.end_live(&ana.token, &live).await;
    for socket in [&mut by_header, &mut by_query] {
        assert_eq!(next_event(socket).await["type"], json!("live_ended"));
        assert_closed(socket).await;
    }
}

#[conformance]
async fn events_of_one_live_are_not_sent_to_viewers_of_another() {
    let app = spawn_app_with(|c| c.open_lives_max = None).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let other = app.start_live(&ana.token, "other").await;
    let mut socket = connect_with_query(&app, &live, &bob.token).await;
    app.comment(&bob.token, &other, "elsewhere").await;
    let (_, here) = app.comment(&bob.token, &live, "here").await;
    let event = next_event(&mut socket).await;
    assert_eq!(event["comment"]["id"], here["id"]);
}

#[conformance]
async fn joining_an_ended_live_gets_live_ended_and_a_close() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.end_live(&ana.token, &live).await;
    let mut socket = connect_with_query(&app, &live, &ana.token).await;
    let event = next_event(&mut socket).await;
    assert_eq!(event, json!({"type": "live_ended", "live_id": live}));
    assert_closed(&mut socket).await;
}

#[conformance]
async fn an_upgrade_without_a_token_or_with_a_bad_one_is_401() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let path = format!("/v1/lives/{live}/events");
    assert_eq!(upgrade_status(app.ws_url(&path)).await, 401);
    assert_eq!(
        upgrade_status(app.ws_url(&format!("{path}?token=nope"))).await,
        401
    );
    let mut request = app.ws_url(&path).into_client_request().expect("a request");
    request.headers_mut().insert(
        "authorization",
        "Bearer nope".parse().expect("a header value"),
    );
    assert_eq!(upgrade_status(request).await, 401);
    // Plain HTTP sees the error body.
    let (status, body) = app.get(&path, None).await;
    assert_eq!(status, 401);
    assert_eq!(body["error"]["code"], json!("unauthenticated"));
}

#[conformance]
async fn an_upgrade_to_an_unknown_live_is_404() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let url = app.ws_url(&format!("/v1/lives/nope/events?token={}", ana.token));
    assert_eq!(upgrade_status(url).await, 404);
}

#[conformance]
async fn a_viewer_that_cannot_keep_up_is_closed_while_the_others_get_every_event() {
    let app = crate::common::spawn_app_with(|c| c.ws_buffer = 64).await;
    let ana = app.creator("ana").await;
    let watcher = app.viewer("watcher", "US").await;
    let live_id = app.start_live(&ana.token, "firehose").await;
    // The slow viewer never reads; the fast one reads everything.
    let mut slow = connect_with_query(&app, &live_id, &watcher.token).await;
    let mut fast = connect_with_query(&app, &live_id, &watcher.token).await;
    const EVENTS: usize = 600;
    let reader = tokio::spawn(async move {
        let mut seen = 0;
        while seen < EVENTS {
            let event = next_event(&mut fast).await;
            assert_eq!(
                event["n"].as_u64(),
                Some(seen as u64),
                "in order, none missing"
            );
            seen += 1;
        }
        seen
    });
    // 600 events of 64 KiB (38 MiB) overflow the slow viewer's socket buffers and then its
    // 64-event buffer on the server.
    let pad = "x".repeat(64 * 1024);
    for n in 0..EVENTS {
        let payload = json!({"type": "comment", "n": n, "pad": pad}).to_string();
        app.state.bus.publish(
            &live_id,
            server::bus::LiveEvent {
                payload: payload.into(),
                last: false,
            },
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(reader.await.expect("the fast viewer reads"), EVENTS);
    // The slow viewer gets what its buffers held, then a 1008 close.
    let mut close_code = None;
    while let Ok(Some(message)) = tokio::time::timeout(WAIT, slow.next()).await {
        match message {
            Ok(Message::Close(frame)) => {
                close_code = frame.map(|f| u16::from(f.code));
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert_eq!(
        close_code,
        Some(1008),
        "a viewer that falls behind is closed with 1008"
    );
}

#[conformance]
async fn a_one_mebibyte_frame_is_refused_from_its_header_without_waiting_for_its_payload() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let mut socket = connect_with_query(&app, &live, &ana.token).await;
    let MaybeTlsStream::Plain(tcp) = socket.get_mut() else {
        panic!("a plain TCP connection");
    };
    // A masked binary frame announcing 1 MiB, and only its first bytes: a server that
    // buffered frames up to tungstenite's 16 MiB default would wait for the rest.
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&(1_u64 << 20).to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame.extend_from_slice(&[0_u8; 512]);
    tcp.write_all(&frame).await.expect("writes");
    let closed = tokio::time::timeout(WAIT, async {
        let mut buf = [0_u8; 256];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the server still holds the connection");
}

#[conformance]
async fn an_account_holds_at_most_its_sockets_and_a_closed_one_frees_its_place() {
    let app = crate::common::spawn_app_with(|c| c.ws_sockets_per_account = 2).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let first = connect_with_query(&app, &live, &bob.token).await;
    let _second = connect_with_query(&app, &live, &bob.token).await;
    let url = app.ws_url(&format!("/v1/lives/{live}/events?token={}", bob.token));
    match connect_async(url.clone()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 429);
            assert!(response.headers().contains_key("retry-after"));
            let body: Value =
                serde_json::from_slice(response.body().as_deref().expect("a body")).expect("JSON");
            assert_eq!(body["error"]["code"], json!("rate_limited"), "{body}");
        }
        Ok(_) => panic!("a third socket of one account was accepted"),
        Err(e) => panic!("unexpected error: {e}"),
    }
    // Another account is not affected, nor is the platform's admin token.
    let _other = connect_with_query(&app, &live, &ana.token).await;
    for _ in 0..3 {
        let _admin = connect_with_query(&app, &live, crate::common::ADMIN).await;
    }
    // Closing a socket frees its place.
    drop(first);
    crate::common::eventually("the closed socket's place is free", || async {
        app.state.sockets.of(&bob.id) < 2
    })
    .await;
    let _third = connect_with_query(&app, &live, &bob.token).await;
}

#[conformance]
async fn a_lives_channel_goes_when_its_last_viewer_leaves() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    assert_eq!(app.state.bus.channels(), 0);
    let first = connect_with_query(&app, &live, &ana.token).await;
    let second = connect_with_query(&app, &live, &ana.token).await;
    assert_eq!(app.state.bus.channels(), 1);
    drop(first);
    drop(second);
    // Nothing is published to the live: the channel goes with its viewers alone.
    crate::common::eventually("the channel is dropped", || async {
        app.state.bus.channels() == 0
    })
    .await;
}

#[conformance]
async fn a_lives_channel_goes_when_the_live_ends() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let mut socket = connect_with_query(&app, &live, &ana.token).await;
    assert_eq!(app.state.bus.channels(), 1);
    let (status, _) = app.end_live(&ana.token, &live).await;
    assert_eq!(status, 200);
    assert_eq!(app.state.bus.channels(), 0, "dropped as the live ended");
    // The viewer still gets the last event.
    assert_eq!(next_event(&mut socket).await["type"], json!("live_ended"));
    assert_closed(&mut socket).await;
    assert_eq!(app.state.bus.channels(), 0);
}

#[conformance]
async fn a_socket_to_an_ended_live_subscribes_to_nothing() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.end_live(&ana.token, &live).await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(connect_with_query(&app, &live, &ana.token).await);
        // The 101 is sent after the check: a channel would exist by now.
        assert_eq!(app.state.bus.channels(), 0);
    }
    for socket in &mut sockets {
        assert_eq!(next_event(socket).await["type"], json!("live_ended"));
        assert_closed(socket).await;
    }
    assert_eq!(app.state.bus.channels(), 0);
}
