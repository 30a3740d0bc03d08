//! Lives and chat.

use testkit::conformance;

use serde_json::json;

use crate::common::{
    ADMIN, assert_error, assert_invalid, assert_page, assert_time, born_years_ago, spawn_app,
    spawn_app_with, string,
};

#[conformance]
async fn starting_a_live_is_201_with_the_contract_fields() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let (status, live) = app.try_start_live(&ana.token, "  Friday night  ").await;
    assert_eq!(status, 201, "{live}");
    assert!(!string(&live, "id").is_empty());
    assert_eq!(live["creator_id"], json!(ana.id));
    assert_eq!(live["title"], json!("Friday night"));
    assert_eq!(live["status"], json!("live"));
    assert_time(&live, "started_at");
}

#[conformance]
async fn a_minor_creator_is_403_creator_not_eligible_saying_why() {
    let app = spawn_app().await;
    let teen = app
        .user(
            "teen",
            "creator",
            "US",
            Some(&born_years_ago(16)),
            Some(1_000_000),
        )
        .await;
    let answer = app.try_start_live(&teen.token, "hi").await;
    assert_error(&answer, 403, "creator_not_eligible");
    let message = answer.1["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("18"),
        "the message should say why: {message}"
    );
}

#[conformance]
async fn a_creator_below_the_follower_minimum_is_403_creator_not_eligible() {
    let app = spawn_app_with(|c| c.eligibility.follower_minimum = 10_000).await;
    let small = app.user("small", "creator", "US", None, Some(9_999)).await;
    let unknown = app.user("unknown", "creator", "US", None, None).await;
    for token in [&small.token, &unknown.token] {
        let answer = app.try_start_live(token, "hi").await;
        assert_error(&answer, 403, "creator_not_eligible");
        let message = answer.1["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("followers"), "{message}");
    }
    let enough = app
        .user("enough", "creator", "US", None, Some(10_000))
        .await;
    app.start_live(&enough.token, "hi").await;
}

#[conformance]
async fn a_creator_in_a_country_without_badges_is_403_creator_not_eligible() {
    let app = spawn_app().await;
    let kiwi = app.user("kiwi", "creator", "NZ", None, Some(50_000)).await;
    let answer = app.try_start_live(&kiwi.token, "hi").await;
    assert_error(&answer, 403, "creator_not_eligible");
}

#[conformance]
async fn a_bad_or_missing_title_is_422_naming_title() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    for body in [
        json!({"title": "   "}),
        json!({"title": "a".repeat(201)}),
        json!({}),
    ] {
        let answer = app.post("/v1/lives", Some(&ana.token), &body).await;
        assert_invalid(&answer, "title");
    }
    let answer = app.post_raw("/v1/lives", Some(&ana.token), "{").await;
    assert_error(&answer, 422, "invalid_request");
}

#[conformance]
async fn a_live_is_200_for_any_token_and_an_unknown_one_is_404() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "FR").await;
    let live = app.start_live(&ana.token, "hello").await;
    for token in [ADMIN, &bob.token, &ana.token] {
        let (status, body) = app.get(&format!("/v1/lives/{live}"), Some(token)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["id"], json!(live));
        assert_eq!(body["creator_id"], json!(ana.id));
        assert_eq!(body["title"], json!("hello"));
        assert_eq!(body["status"], json!("live"));
        assert_time(&body, "started_at");
    }
    let answer = app.get("/v1/lives/nope", Some(&bob.token)).await;
    assert_error(&answer, 404, "not_found");
}

#[conformance]
async fn ending_a_live_is_200_with_status_ended() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let (status, body) = app.end_live(&ana.token, &live).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(live));
    assert_eq!(body["creator_id"], json!(ana.id));
    assert_eq!(body["status"], json!("ended"));
    assert_time(&body, "started_at");
    let (status, body) = app
        .get(&format!("/v1/lives/{live}"), Some(&ana.token))
        .await;
    assert_eq!((status, &body["status"]), (200, &json!("ended")));
}

#[conformance]
async fn the_admin_may_end_any_live_and_an_unknown_live_is_404() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let (status, body) = app.end_live(ADMIN, &live).await;
    assert_eq!((status, &body["status"]), (200, &json!("ended")), "{body}");
    assert_error(&app.end_live(ADMIN, "nope").await, 404, "not_found");
}

#[conformance]
async fn commenting_is_201_with_the_contract_fields_and_no_badge_before_a_purchase() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "GB").await;
    let live = app.start_live(&ana.token, "hello").await;
    let (status, comment) = app.comment(&bob.token, &live, "  hi there  ").await;
    assert_eq!(status, 201, "{comment}");
    assert!(!string(&comment, "id").is_empty());
    assert_eq!(comment["live_id"], json!(live));
    assert_eq!(comment["author_id"], json!(bob.id));
    assert_eq!(comment["author_handle"], json!("bob"));
    assert_eq!(comment["text"], json!("hi there"));
    assert!(
        comment.get("badge").is_some_and(|b| b.is_null()),
        "{comment}"
    );
    assert_time(&comment, "created_at");
    // The creator comments in their own live too.
    let (status, _) = app.comment(&ana.token, &live, "welcome").await;
    assert_eq!(status, 201);
}

#[conformance]
async fn an_empty_or_301_character_comment_is_422_naming_text() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let long = "é".repeat(301);
    for text in ["", "   \n ", "bell \u{7}", long.as_str()] {
        let answer = app.comment(&bob.token, &live, text).await;
        assert_invalid(&answer, "text");
    }
    let answer = app
        .post(
            &format!("/v1/lives/{live}/comments"),
            Some(&bob.token),
            &json!({}),
        )
        .await;
    assert_invalid(&answer, "text");
    // 300 characters after trimming is the longest comment.
    let longest = format!("  {}  ", "é".repeat(300));
    let (status, body) = app.comment(&bob.token, &live, &longest).await;
    assert_eq!(status, 201, "{body}");
}

#[conformance]
async fn a_comment_on_an_ended_live_is_409_live_not_active() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    app.comment(&bob.token, &live, "before").await;
    app.end_live(&ana.token, &live).await;
    assert_error(
        &app.comment(&bob.token, &live, "hi").await,
        409,
        "live_not_active",
    );
    // What was said stays readable.
    let (status, list) = app
        .get(&format!("/v1/lives/{live}/comments"), Some(&bob.token))
        .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(assert_page(&list).len(), 1);
}

#[conformance]
async fn comment_lists_come_in_pages_of_50_by_default() {
    // 51 comments by one account at once: more than its rate allows.
    let app = spawn_app_with(|c| c.rates.comments = None).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    for i in 0..51 {
        assert_eq!(
            app.comment(&bob.token, &live, &format!("c{i}")).await.0,
            201
        );
    }
    let path = format!("/v1/lives/{live}/comments");
    let (_, first) = app.get(&path, Some(&bob.token)).await;
    assert_eq!(assert_page(&first).len(), 50);
    let cursor = string(&first, "next_cursor");
    let (_, second) = app
        .get(&format!("{path}?cursor={cursor}"), Some(&bob.token))
        .await;
    assert_eq!(assert_page(&second).len(), 1);
    assert_eq!(second["data"][0]["text"], json!("c50"));
    assert!(second["next_cursor"].is_null());
    let (status, all) = app
        .get(&format!("{path}?limit=500"), Some(&bob.token))
        .await;
    assert_eq!(status, 200);
    assert_eq!(assert_page(&all).len(), 51);
}

#[conformance]
async fn a_comment_on_an_unknown_live_is_404() {
    let app = spawn_app().await;
    let bob = app.viewer("bob", "US").await;
    assert_error(
        &app.comment(&bob.token, "nope", "hi").await,
        404,
        "not_found",
    );
    assert_error(
        &app.get("/v1/lives/nope/comments", Some(&bob.token)).await,
        404,
        "not_found",
    );
}

#[conformance]
async fn comments_are_listed_oldest_first_in_pages() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    for text in ["one", "two", "three"] {
        app.comment(&bob.token, &live, text).await;
    }
    let path = format!("/v1/lives/{live}/comments");
    let (status, body) = app.get(&path, Some(&bob.token)).await;
    assert_eq!(status, 200, "{body}");
    let texts: Vec<_> = assert_page(&body)
        .iter()
        .map(|c| c["text"].clone())
        .collect();
    assert_eq!(texts, [json!("one"), json!("two"), json!("three")]);
    assert!(body["next_cursor"].is_null());

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let query = match &cursor {
            Some(c) => format!("{path}?limit=2&cursor={c}"),
            None => format!("{path}?limit=2"),
        };
        let (status, page) = app.get(&query, Some(&bob.token)).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(assert_page(&page).iter().map(|c| c["text"].clone()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(seen.len() < 10, "pagination does not end");
    }
    assert_eq!(seen, texts);
    assert_invalid(
        &app.get(&format!("{path}?limit=0"), Some(&bob.token)).await,
        "limit",
    );
    assert_invalid(
        &app.get(&format!("{path}?limit=501"), Some(&bob.token))
            .await,
        "limit",
    );
}

#[conformance]
async fn a_comment_carries_the_authors_highest_non_refunded_tier_in_that_live() {
    let app = spawn_app_with(|c| c.open_lives_max = None).await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    let other = app.start_live(&ana.token, "another").await;
    let badge = |answer: &(u16, serde_json::Value)| {
        assert_eq!(answer.0, 201, "{}", answer.1);
        answer.1["badge"].clone()
    };

    assert_eq!(
        badge(&app.comment(&bob.token, &live, "a").await),
        json!(null)
    );
    app.bought(&bob.token, &live, 1).await;
    assert_eq!(
        badge(&app.comment(&bob.token, &live, "b").await),
        json!({"tier": 1, "hearts": 1})
    );
    let top = app.bought(&bob.token, &live, 3).await;
    app.bought(&bob.token, &live, 2).await;
    assert_eq!(
        badge(&app.comment(&bob.token, &live, "c").await),
        json!({"tier": 3, "hearts": 3})
    );
    // Badges belong to one live.
    assert_eq!(
        badge(&app.comment(&bob.token, &other, "d").await),
        json!(null)
    );
    // A refunded badge no longer counts.
    let (status, body) = app.refund(ADMIN, string(&top, "id"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        badge(&app.comment(&bob.token, &live, "e").await),
        json!({"tier": 2, "hearts": 2})
    );
    // The list shows each comment with the badge it was written with.
    let (_, list) = app
        .get(&format!("/v1/lives/{live}/comments"), Some(&ana.token))
        .await;
    let tiers: Vec<_> = assert_page(&list)
        .iter()
        .map(|c| c["badge"]["tier"].clone())
        .collect();
    assert_eq!(tiers, [json!(null), json!(1), json!(3), json!(2)]);
    app.verify().await;
}

#[conformance(flavor = "multi_thread", worker_threads = 2)]
async fn comments_from_many_accounts_at_once_are_stored_once_each_with_their_badge_in_fewer_transactions()
 {
    // A batch window, so that comments sent together share a transaction however fast the
    // disk is.
    let app = std::sync::Arc::new(
        spawn_app_with(|c| c.writer.batch_wait = std::time::Duration::from_millis(50)).await,
    );
    let ana = app.creator("ana").await;
    let live = app.start_live(&ana.token, "hello").await;
    let mut viewers = Vec::new();
    for n in 0..20 {
        let viewer = app.viewer(&format!("viewer{n}"), "US").await;
        // Viewer n holds tier n % 4 (none for 0).
        let tier = n % 4;
        if tier > 0 {
            app.bought(&viewer.token, &live, tier).await;
        }
        viewers.push((viewer, tier));
    }
    let before = app.state.store.writer().stats();
    let mut sent = Vec::new();
    for (viewer, tier) in &viewers {
        for k in 0..2 {
            let (app, live, viewer, tier) = (app.clone(), live.clone(), viewer.clone(), *tier);
            sent.push(tokio::spawn(async move {
                let text = format!("{} says {k}", viewer.handle);
                let (status, body) = app.comment(&viewer.token, &live, &text).await;
                assert_eq!(status, 201, "{body}");
                let badge = if tier > 0 {
                    json!({"tier": tier, "hearts": tier})
                } else {
                    json!(null)
                };
                assert_eq!(body["badge"], badge, "{body}");
                (string(&body, "id").to_owned(), text, badge)
            }));
        }
    }
    let mut answered = Vec::new();
    for task in sent {
        answered.push(task.await.expect("the comment was sent"));
    }
    let after = app.state.store.writer().stats();
    assert_eq!(after.comments - before.comments, 40);
    assert!(
        after.comment_batches - before.comment_batches < 40,
        "every comment had a transaction of its own: {before:?} → {after:?}"
    );
    // Listed once each, as answered.
    let (status, list) = app
        .get(
            &format!("/v1/lives/{live}/comments?limit=500"),
            Some(&ana.token),
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let listed = assert_page(&list);
    assert_eq!(listed.len(), 40, "{list}");
    for (id, text, badge) in &answered {
        let found: Vec<_> = listed.iter().filter(|c| c["id"] == json!(id)).collect();
        assert_eq!(found.len(), 1, "{id} in {list}");
        assert_eq!(
            (&found[0]["text"], &found[0]["badge"]),
            (&json!(text), badge)
        );
    }
}

#[conformance]
async fn a_comment_on_a_live_ended_behind_this_nodes_back_is_409_live_not_active() {
    let app = spawn_app().await;
    let ana = app.creator("ana").await;
    let bob = app.viewer("bob", "US").await;
    let live = app.start_live(&ana.token, "hello").await;
    assert_eq!(app.comment(&bob.token, &live, "before").await.0, 201);
    // Ended in the database only (as by another node): the writer's insert sees it.
    app.state
        .store
        .end_live(&store::LiveId::from_string(live.clone()))
        .await
        .expect("ends");
    assert_error(
        &app.comment(&bob.token, &live, "after").await,
        409,
        "live_not_active",
    );
    let (_, list) = app
        .get(&format!("/v1/lives/{live}/comments"), Some(&bob.token))
        .await;
    assert_eq!(assert_page(&list).len(), 1, "{list}");
}
