//! The pages in a real browser: headless Chromium driven through ChromeDriver (WebDriver,
//! with fantoccini) against the real server on port 0.
//!
//! Chromium and ChromeDriver come from Debian's `chromium` and `chromium-driver` (`.ci/run`
//! installs them); `OVATION_CHROMIUM` and `OVATION_CHROMEDRIVER` point elsewhere. Without them
//! these tests print why and pass, unless `OVATION_TEST_REQUIRE_SERVICES=1` (CI).
//!
//! The run saves screenshots of the live page and the dashboard under
//! `target/screenshots/`; with `OVATION_UPDATE_SCREENSHOTS=1` also under `docs/`, where the
//! README shows them.

#[path = "common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{TestApp, User, spawn_app};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

fn binary(variable: &str, default: &str) -> Option<PathBuf> {
    let path = std::env::var_os(variable).map_or_else(|| PathBuf::from(default), PathBuf::from);
    path.exists().then_some(path)
}

/// Chromium and ChromeDriver, or `None` (with the reason printed) where this machine has
/// none and they are not required.
fn chromium() -> Option<(PathBuf, PathBuf)> {
    match (
        binary("OVATION_CHROMIUM", "/usr/bin/chromium"),
        binary("OVATION_CHROMEDRIVER", "/usr/bin/chromedriver"),
    ) {
        (Some(browser), Some(driver)) => Some((browser, driver)),
        _ if testkit::services_required() => panic!(
            "OVATION_TEST_REQUIRE_SERVICES=1 but Chromium or ChromeDriver is missing \
             (apt-get install chromium chromium-driver, or set OVATION_CHROMIUM and OVATION_CHROMEDRIVER)"
        ),
        _ => {
            eprintln!(
                "skipped: no Chromium and ChromeDriver here (/usr/bin/chromium, /usr/bin/chromedriver)"
            );
            None
        }
    }
}

/// A ChromeDriver of this test, and the browsers it started; all stopped on drop.
struct Driver {
    chromium: PathBuf,
    process: Child,
    url: String,
    profiles: Vec<tempfile::TempDir>,
}

impl Driver {
    async fn start(chromium: PathBuf, chromedriver: &Path) -> Driver {
        let port = testkit::free_port();
        let process = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let until = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < until,
                "chromedriver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Driver {
            chromium,
            process,
            url,
            profiles: Vec::new(),
        }
    }

    /// A new headless browser with a fresh profile (its own cookies), 1200 × 1000.
    async fn browser(&mut self) -> Client {
        let profile = tempfile::tempdir().expect("a profile folder");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1200,1000",
        ]
        .iter()
        .map(|a| (*a).to_owned())
        .chain([format!("--user-data-dir={}", profile.path().display())])
        .collect::<Vec<_>>();
        self.profiles.push(profile);
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": self.chromium, "args": args},
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("a JSON object")
        };
        ClientBuilder::rustls()
            .expect("a WebDriver client")
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
        // A browser outlives its ChromeDriver when a test failed before closing it (and
        // some of its helpers may linger even after a close): end every process of each
        // profile this test made.
        for profile in &self.profiles {
            let _ = Command::new("pkill")
                .arg("-f")
                .arg(format!("user-data-dir={}", profile.path().display()))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Polls `condition` (a JavaScript expression) until it is true or `within` has passed.
async fn until(browser: &Client, condition: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let value = browser
            .execute(&format!("return !!({condition});"), vec![])
            .await
            .expect("the script runs");
        if value == Value::Bool(true) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn text_of(browser: &Client, css: &str) -> String {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} is on the page: {e}"))
        .text()
        .await
        .expect("its text")
}

/// Clicks the element `css` selects.
async fn click(browser: &Client, css: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} is on the page: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// Types `text` into the field `css` selects.
async fn type_into(browser: &Client, css: &str, text: &str) {
    browser
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css} is on the page: {e}"))
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

/// Signs out with the header's button; ends on the home page.
async fn sign_out(browser: &Client, app: &TestApp) {
    click(browser, "form[action='/signout'] button").await;
    assert!(
        until(
            browser,
            &format!("window.location.href === {:?}", app.url("/")),
            Duration::from_secs(10)
        )
        .await,
        "signed out and sent home"
    );
}

/// Signs in through the form, as a person would; ends on `next`.
async fn sign_in(browser: &Client, app: &TestApp, token: &str, next: &str) {
    browser
        .goto(&app.url(&format!("/signin?next={next}")))
        .await
        .expect("the sign-in page opens");
    type_into(browser, "#token", token).await;
    click(browser, "form[action='/signin'] button[type=submit]").await;
    let expected = app.url(next);
    assert!(
        until(
            browser,
            &format!("window.location.href === {expected:?}"),
            Duration::from_secs(10)
        )
        .await,
        "signed in and sent on to {next}"
    );
}

/// Waits until the live page follows the live's WebSocket.
async fn connected(browser: &Client) {
    assert!(
        until(
            browser,
            "document.querySelector('section.live') && document.querySelector('section.live').dataset.connected === 'true'",
            Duration::from_secs(10)
        )
        .await,
        "the live page connects to the live's events"
    );
}

/// A screenshot of the whole page, `width` pixels wide: the window grows to the page's
/// height first.
async fn screenshot(browser: &Client, name: &str, width: u32) {
    browser
        .set_window_size(width, 800)
        .await
        .expect("the window resizes");
    let height = browser
        .execute("return document.documentElement.scrollHeight;", vec![])
        .await
        .expect("the page's height")
        .as_u64()
        .and_then(|h| u32::try_from(h).ok())
        .unwrap_or(1000);
    browser
        .set_window_size(width, height.clamp(600, 4000))
        .await
        .expect("the window resizes");
    let png = browser.screenshot().await.expect("a screenshot");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut folders = vec![root.join("target/screenshots")];
    if std::env::var("OVATION_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        folders.push(root.join("docs"));
    }
    for folder in folders {
        std::fs::create_dir_all(&folder).expect("a screenshot folder");
        std::fs::write(folder.join(name), &png).expect("the screenshot is saved");
    }
}

async fn start_live(app: &TestApp, creator: &User, title: &str, goal: i64) -> String {
    let (status, live) = app
        .post(
            "/v1/lives",
            Some(&creator.token),
            &json!({"title": title, "goal_hearts": goal}),
        )
        .await;
    assert_eq!(status, 201, "{live}");
    live["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn a_badge_bought_on_the_live_page_shows_beside_the_comment_in_another_session_and_on_the_dashboard()
 {
    let Some((chromium, chromedriver)) = chromium() else {
        return;
    };
    let app = spawn_app().await;
    let creator = app.creator("maya.draws").await;
    let buyer = app.viewer("sam", "US").await;
    let watcher = app.viewer("lea", "FR").await;
    let fan = app.viewer("yui", "JP").await;
    // An earlier live and earlier chat, so the pages show a creator with a history.
    let earlier = start_live(&app, &creator, "Sketching hands", 5).await;
    let (status, _) = app.buy(&fan.token, &earlier, 3, "pm_card_visa", None).await;
    assert_eq!(status, 201);
    let (status, _) = app.end_live(&creator.token, &earlier).await;
    assert_eq!(status, 200);
    let live = start_live(&app, &creator, "Ink and coffee", 10).await;
    let (status, _) = app
        .buy(&watcher.token, &live, 1, "pm_card_visa", None)
        .await;
    assert_eq!(status, 201);
    for (who, text) in [
        (&watcher, "Bonjour from Lyon!"),
        (&fan, "Konbanwa! Love the colours"),
    ] {
        let (status, _) = app
            .post(
                &format!("/v1/lives/{live}/comments"),
                Some(&who.token),
                &json!({"text": text}),
            )
            .await;
        assert_eq!(status, 201);
    }

    let mut driver = Driver::start(chromium, &chromedriver).await;
    let buying = driver.browser().await;
    let watching = driver.browser().await;
    let page = format!("/lives/{live}");
    sign_in(&buying, &app, &buyer.token, &page).await;
    sign_in(&watching, &app, &watcher.token, &page).await;
    connected(&buying).await;
    connected(&watching).await;

    // Prices are the buyer's: US dollars.
    assert!(
        text_of(&buying, "button.tier[data-tier='2']")
            .await
            .contains("1.99 USD")
    );
    assert!(
        text_of(&watching, "button.tier[data-tier='2']")
            .await
            .contains("EUR")
    );

    click(&buying, "button.tier[data-tier='2']").await;
    assert!(
        until(
            &buying,
            "document.querySelector('#badge-notice.success') && document.querySelector('#badge-notice').textContent.includes('2-heart badge')",
            Duration::from_secs(10)
        )
        .await,
        "the buyer is thanked: {}",
        text_of(&buying, "#badge-notice").await
    );

    let text = "Your line work is amazing";
    type_into(&buying, "#comment-text", text).await;
    click(&buying, "#comment-form button[type=submit]").await;
    let sent = Instant::now();
    let seen = until(
        &watching,
        &format!(
            "Array.from(document.querySelectorAll('#chat li.comment')).some(li => \
               li.querySelector('.text').textContent === {text:?} && \
               li.querySelector('.author').textContent === '@sam' && \
               li.querySelector('.author + .badge[data-hearts=\"2\"]'))"
        ),
        Duration::from_secs(2),
    )
    .await;
    assert!(
        seen,
        "the other session sees the comment with its 2-heart badge beside the name within 2 s"
    );
    eprintln!(
        "the comment with its badge reached the other session {} ms after the click",
        sent.elapsed().as_millis()
    );
    // The purchase was announced in the chat, and the goal moved.
    assert!(
        until(
            &watching,
            "Array.from(document.querySelectorAll('#chat li.announce')).some(li => li.textContent.includes('@sam bought a 2-heart badge'))",
            Duration::from_secs(2)
        )
        .await,
        "the purchase is announced"
    );
    assert_eq!(text_of(&watching, "#goal-text").await, "3 of 10 hearts");
    screenshot(&watching, "live.png", 1200).await;
    // On a phone: one column, the badges under the chat.
    screenshot(&watching, "live-phone.png", 390).await;

    // The creator's dashboard shows the pending amount and the supporter.
    sign_out(&buying, &app).await;
    sign_in(&buying, &app, &creator.token, "/creator").await;
    assert_eq!(
        text_of(&buying, "#balances tr[data-currency='USD'] td.pending").await,
        "1.99 USD"
    );
    let supporters = text_of(&buying, "#supporters").await;
    for expected in ["@sam", "1.99 USD", "@lea", "@yui"] {
        assert!(supporters.contains(expected), "{expected}: {supporters}");
    }
    let lives = text_of(&buying, "#lives").await;
    assert!(lives.contains("Ink and coffee"), "{lives}");
    assert!(lives.contains("Sketching hands"), "{lives}");
    assert!(
        buying
            .find(Locator::Css("figure.chart svg polyline"))
            .await
            .is_ok(),
        "the earnings chart is drawn"
    );
    screenshot(&buying, "dashboard.png", 1200).await;

    // The operator's view, after a verification of the ledger.
    sign_out(&watching, &app).await;
    screenshot(&watching, "home.png", 1200).await;
    sign_in(&watching, &app, &app.admin_token, "/admin").await;
    click(&watching, "a[href='/admin?verify=1']").await;
    assert!(
        until(
            &watching,
            "document.querySelector('#verify-result.success')",
            Duration::from_secs(10)
        )
        .await,
        "the ledger verifies"
    );
    screenshot(&watching, "admin.png", 1200).await;
    buying.close().await.expect("closes");
    watching.close().await.expect("closes");
}

#[tokio::test]
async fn a_declined_card_a_spending_limit_and_an_ended_live_show_their_messages_and_move_no_money()
{
    let Some((chromium, chromedriver)) = chromium() else {
        return;
    };
    // Every buyer may spend £3.00 a day: a 3-heart badge (£4.99) is over it.
    let app = common::spawn_app_with(|c| {
        c.daily_spending_limit.insert(money::Currency::GBP, 300);
    })
    .await;
    let creator = app.creator("noor.sings").await;
    let viewer = app.viewer("ravi", "GB").await;
    let live = start_live(&app, &creator, "Evening set", 50).await;
    let mut driver = Driver::start(chromium, &chromedriver).await;
    let browser = driver.browser().await;
    let page = format!("/lives/{live}");
    sign_in(&browser, &app, &viewer.token, &page).await;
    connected(&browser).await;

    browser
        .find(Locator::Css("#payment"))
        .await
        .expect("the payment choice")
        .select_by_value("pm_card_chargeDeclined")
        .await
        .expect("choosing the declined card");
    click(&browser, "button.tier[data-tier='1']").await;
    assert!(
        until(
            &browser,
            "document.querySelector('#badge-notice.error') && document.querySelector('#badge-notice').textContent.includes('Your card was declined')",
            Duration::from_secs(10)
        )
        .await,
        "the decline is explained: {}",
        text_of(&browser, "#badge-notice").await
    );

    browser
        .find(Locator::Css("#payment"))
        .await
        .expect("the payment choice")
        .select_by_value("pm_card_visa")
        .await
        .expect("choosing the good card");
    click(&browser, "button.tier[data-tier='3']").await;
    assert!(
        until(
            &browser,
            "document.querySelector('#badge-notice.error') && document.querySelector('#badge-notice').textContent.includes('over your spending limit')",
            Duration::from_secs(10)
        )
        .await,
        "the limit is explained: {}",
        text_of(&browser, "#badge-notice").await
    );

    // The creator ends the live: the page says so and closes the chat and the buttons.
    let (status, _) = app.end_live(&creator.token, &live).await;
    assert_eq!(status, 200);
    assert!(
        until(
            &browser,
            "!document.getElementById('ended').hidden && document.querySelector(\"button.tier[data-tier='1']\").disabled && document.getElementById('comment-text').disabled",
            Duration::from_secs(5)
        )
        .await,
        "the page shows that the live ended"
    );
    assert!(
        text_of(&browser, "#ended")
            .await
            .contains("This live has ended")
    );
    // A page that missed the event still cannot buy: the API refuses and the page says why.
    browser
        .execute(
            "const b = document.querySelector(\"button.tier[data-tier='3']\"); \
             document.getElementById('payment').disabled = false; \
             document.getElementById('payment').value = 'pm_card_visa'; \
             b.disabled = false; b.click();",
            vec![],
        )
        .await
        .expect("a stale click");
    assert!(
        until(
            &browser,
            "document.querySelector('#badge-notice').textContent.includes('badges can no longer be bought')",
            Duration::from_secs(10)
        )
        .await,
        "the refusal is explained: {}",
        text_of(&browser, "#badge-notice").await
    );

    // No money moved: no supporter, no earnings, and the ledger verifies.
    let (_, supporters) = app
        .get(
            &format!("/v1/lives/{live}/supporters"),
            Some(&creator.token),
        )
        .await;
    assert_eq!(supporters["data"], json!([]));
    let (_, earnings) = app
        .get(
            &format!("/v1/creators/{}/earnings", creator.id),
            Some(&creator.token),
        )
        .await;
    assert_eq!(earnings["balances"], json!([]), "{earnings}");
    let (_, verify) = app.get("/v1/ledger/verify", Some(&app.admin_token)).await;
    assert_eq!(verify["ok"], true);
    assert_eq!(verify["transfers"], 0, "{verify}");
    browser.close().await.expect("closes");
}

#[tokio::test]
async fn a_viewer_is_refused_the_dashboard_and_told_when_badges_are_not_offered() {
    let Some((chromium, chromedriver)) = chromium() else {
        return;
    };
    let app = spawn_app().await;
    let creator = app.creator("ola.cooks").await;
    let viewer = app.viewer("ken", "CA").await;
    let live = start_live(&app, &creator, "Dumplings", 20).await;
    let mut driver = Driver::start(chromium, &chromedriver).await;
    let browser = driver.browser().await;
    let page = format!("/lives/{live}");
    sign_in(&browser, &app, &viewer.token, &page).await;
    assert!(
        text_of(&browser, "#badge-notice")
            .await
            .contains("Badges are not offered in your country (CA)")
    );
    assert!(
        browser.find(Locator::Css("button.tier")).await.is_err(),
        "no badge buttons where badges are not offered"
    );

    browser
        .goto(&app.url("/creator"))
        .await
        .expect("the dashboard's address opens");
    let heading = text_of(&browser, "main h1").await;
    assert_eq!(heading, "Not for you");
    let source = browser.source().await.expect("the page");
    assert!(source.contains("The dashboard is for creators"), "{source}");
    assert!(!source.contains("balances"), "no creator data: {source}");
    browser.close().await.expect("closes");
}

#[tokio::test]
async fn a_creator_goes_live_sets_a_goal_and_ends_the_live_from_the_pages_and_the_operator_runs_a_release()
 {
    let Some((chromium, chromedriver)) = chromium() else {
        return;
    };
    let app = spawn_app().await;
    let creator = app.creator("tomas.plays").await;
    let mut driver = Driver::start(chromium, &chromedriver).await;
    let browser = driver.browser().await;
    sign_in(&browser, &app, &creator.token, "/creator").await;
    type_into(&browser, "#live-title", "Late-night jazz").await;
    type_into(&browser, "#live-goal", "30").await;
    click(
        &browser,
        "form[data-api='/app/v1/lives'] button[type=submit]",
    )
    .await;
    assert!(
        until(
            &browser,
            "window.location.pathname.startsWith('/lives/') && document.querySelector('section.live')",
            Duration::from_secs(10)
        )
        .await,
        "going live opens the live's page"
    );
    assert_eq!(text_of(&browser, "main h1").await, "Late-night jazz");
    assert_eq!(text_of(&browser, "#goal-text").await, "0 of 30 hearts");
    let live = browser
        .current_url()
        .await
        .expect("a URL")
        .path()
        .trim_start_matches("/lives/")
        .to_owned();

    // A new goal, from the creator's panel of the live page.
    let field = browser
        .find(Locator::Css("#goal-hearts"))
        .await
        .expect("the goal field");
    field.clear().await.expect("clearing");
    field.send_keys("45").await.expect("typing");
    click(&browser, "form[data-method='PUT'] button[type=submit]").await;
    assert!(
        until(
            &browser,
            "document.getElementById('goal-text') && document.getElementById('goal-text').textContent === '0 of 45 hearts'",
            Duration::from_secs(10)
        )
        .await,
        "the page shows the new goal"
    );
    let (_, read) = app
        .get(&format!("/v1/lives/{live}"), Some(&creator.token))
        .await;
    assert_eq!(read["goal_hearts"], json!(45));

    click(&browser, "button.danger").await;
    assert!(
        until(
            &browser,
            "document.querySelector('section.live') && document.querySelector('section.live').dataset.active === 'false'",
            Duration::from_secs(10)
        )
        .await,
        "the live ends"
    );
    let (_, read) = app
        .get(&format!("/v1/lives/{live}"), Some(&creator.token))
        .await;
    assert_eq!(read["status"], json!("ended"));

    // The operator's release button calls the API through the session.
    sign_out(&browser, &app).await;
    sign_in(&browser, &app, &app.admin_token, "/admin").await;
    browser
        .execute(
            "window.__fetch = fetch; window.fetch = function (u, o) { \
               window.__called = u; sessionStorage.setItem('called', u); return window.__fetch(u, o); };",
            vec![],
        )
        .await
        .expect("watching the page's requests");
    click(&browser, "form[data-api='/app/v1/holds/release'] button").await;
    assert!(
        until(
            &browser,
            // Called, then reloaded (a reload forgets `__called`, the tab's storage keeps the
            // address); a refusal would leave the page as it was.
            "sessionStorage.getItem('called') === '/app/v1/holds/release' && window.__called === undefined \
             && document.readyState === 'complete' && document.querySelector('h1').textContent === 'Operator'",
            Duration::from_secs(10)
        )
        .await,
        "the release succeeded and the page reloaded"
    );
    browser.close().await.expect("closes");
}

/// A desktop browser's user agent (headless Chromium's says `HeadlessChrome`: a bot, whose
/// clicks are redirected but not counted).
const DESKTOP: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                       Chrome/124.0 Safari/537.36";

/// A brand with US$500.00 in its wallet.
async fn funded_brand(app: &TestApp, handle: &str) -> User {
    let brand = app.user(handle, "brand", "US", None, None).await;
    let (status, body) = app
        .post(
            "/v1/wallet/topups",
            Some(&brand.token),
            &json!({"amount": {"amount": 50_000, "currency": "USD"}, "payment_method": "pm_card_visa"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    brand
}

/// Lists a product of `brand` whose page is `url`; returns its id.
async fn list_product(
    app: &TestApp,
    brand: &User,
    title: &str,
    url: &str,
    price: Value,
    bps: u32,
) -> String {
    let (status, product) = app
        .post(
            "/v1/products",
            Some(&brand.token),
            &json!({"title": title, "url": url, "price": price, "category": "art supplies",
                    "commission_bps": bps}),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    common::string(&product, "id").to_owned()
}

/// Sets `creator`'s shop; returns the link code of each product, in order.
async fn set_shop(app: &TestApp, creator: &User, products: &[&str]) -> Vec<String> {
    let (status, shop) = app
        .request(
            reqwest::Method::PUT,
            &format!("/v1/creators/{}/shop", creator.id),
            Some(&creator.token),
            None,
            Some(json!({"products": products}).to_string()),
        )
        .await;
    assert_eq!(status, 200, "{shop}");
    shop["products"]
        .as_array()
        .expect("products")
        .iter()
        .map(|p| common::string(&p["link"], "code").to_owned())
        .collect()
}

/// A desktop browser's request for a tracked link from `address` (the app trusts
/// `x-forwarded-for`): the click id of the redirect.
async fn follow(app: &TestApp, code: &str, address: &str) -> String {
    let response = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
        .get(app.url(&format!("/r/{code}")))
        .header("user-agent", DESKTOP)
        .header("x-forwarded-for", address)
        .send()
        .await
        .expect("an answer");
    assert_eq!(response.status().as_u16(), 302);
    let location = response.headers()["location"].to_str().expect("text");
    location
        .split("ovc=")
        .nth(1)
        .expect("an ovc")
        .split(['&', '#'])
        .next()
        .expect("a value")
        .to_owned()
}

#[tokio::test]
async fn a_creators_shop_page_lists_the_products_and_its_links_redirect_to_the_product_with_the_click()
 {
    let Some((chromium, chromedriver)) = chromium() else {
        return;
    };
    // Tracked links start with the public URL: this server's own address, so a click from
    // the page comes back to it; the products' pages are this server's /healthz.
    let app = common::spawn_app_reachable(|_| {}).await;
    let brand = funded_brand(&app, "lumen").await;
    let creator = app.creator("ana.draws").await;
    let sketchbook = list_product(
        &app,
        &brand,
        "Linen sketchbook",
        &app.url("/healthz?from=sketchbook"),
        json!({"amount": 2_400, "currency": "USD"}),
        1_200,
    )
    .await;
    let palette = list_product(
        &app,
        &brand,
        "Pocket palette",
        &app.url("/healthz"),
        json!({"amount": 1_500, "currency": "JPY"}),
        1_000,
    )
    .await;
    let codes = set_shop(&app, &creator, &[&sketchbook, &palette]).await;

    let mut driver = Driver::start(chromium, &chromedriver).await;
    let browser = driver.browser().await;
    browser
        .goto(&app.url("/shop/ana.draws"))
        .await
        .expect("the shop opens");
    assert_eq!(text_of(&browser, "main h1").await, "@ana.draws's shop");
    let items = browser
        .find_all(Locator::Css("li.product"))
        .await
        .expect("the products");
    assert_eq!(items.len(), 2);
    for (item, (title, price, code)) in items.iter().zip([
        ("Linen sketchbook", "24.00 USD", &codes[0]),
        ("Pocket palette", "1500 JPY", &codes[1]),
    ]) {
        let text = item.text().await.expect("its text");
        assert!(text.contains(title) && text.contains(price), "{text}");
        let href = item
            .find(Locator::Css("a.button"))
            .await
            .expect("its link")
            .attr("href")
            .await
            .expect("an attribute")
            .expect("an href");
        assert_eq!(href, app.url(&format!("/r/{code}")));
    }
    screenshot(&browser, "shop.png", 1200).await;

    // Following the first product's link: through the redirect to the product's page,
    // with the click's id.
    click(&browser, "li.product:first-child a.button").await;
    assert!(
        until(
            &browser,
            "window.location.pathname === '/healthz' && /[?&]from=sketchbook&ovc=[^&]+/.test(window.location.search)",
            Duration::from_secs(10)
        )
        .await,
        "the link leads to the product's page with ovc: {}",
        browser.current_url().await.expect("a URL")
    );
    assert!(
        browser
            .source()
            .await
            .expect("the page")
            .contains("\"status\":\"ok\""),
        "the product's page (here /healthz) answered"
    );

    // An unknown handle is the site's 404 page.
    browser
        .goto(&app.url("/shop/nobody"))
        .await
        .expect("the address opens");
    assert_eq!(text_of(&browser, "main h1").await, "Not found");
    assert!(
        text_of(&browser, "main")
            .await
            .contains("There is no such shop.")
    );
    browser.close().await.expect("closes");
}

#[tokio::test]
async fn the_dashboard_counts_a_links_clicks_and_orders_and_the_brand_page_shows_sales_by_creator()
{
    let Some((chromium, chromedriver)) = chromium() else {
        return;
    };
    let app = common::spawn_app_reachable(|c| {
        c.client_ip_header = Some("x-forwarded-for".into());
    })
    .await;
    let brand = funded_brand(&app, "lumen").await;
    let ana = app.creator("ana.draws").await;
    let cy = app.creator("cy.paints").await;
    let sketchbook = list_product(
        &app,
        &brand,
        "Linen sketchbook",
        "https://lumen.example/sketchbook",
        json!({"amount": 2_400, "currency": "USD"}),
        1_200,
    )
    .await;
    let pens = list_product(
        &app,
        &brand,
        "Brush pens",
        "https://lumen.example/pens",
        json!({"amount": 1_850, "currency": "USD"}),
        1_500,
    )
    .await;
    let ana_codes = set_shop(&app, &ana, &[&sketchbook, &pens]).await;
    let cy_codes = set_shop(&app, &cy, &[&sketchbook]).await;
    // Three clients click Ana's sketchbook link, one her pens link, two Cy's.
    let mut ana_clicks = Vec::new();
    for address in ["203.0.113.1", "203.0.113.2", "203.0.113.3"] {
        ana_clicks.push(follow(&app, &ana_codes[0], address).await);
    }
    follow(&app, &ana_codes[1], "203.0.113.4").await;
    let cy_click = follow(&app, &cy_codes[0], "203.0.113.5").await;
    follow(&app, &cy_codes[0], "203.0.113.6").await;
    // Two sketchbooks by Ana's link, one by Cy's; a pen set with Ana's coupon.
    let (status, _) = app
        .post(
            "/v1/coupons",
            Some(&ana.token),
            &json!({"brand_id": brand.id, "code": "ANA10"}),
        )
        .await;
    assert_eq!(status, 201);
    for body in [
        json!({"order_id": "L-1", "click_id": ana_clicks[1],
               "items": [{"product_id": sketchbook, "quantity": 2, "amount": {"amount": 4_800, "currency": "USD"}}]}),
        json!({"order_id": "L-2", "click_id": cy_click,
               "items": [{"product_id": sketchbook, "quantity": 1, "amount": {"amount": 2_400, "currency": "USD"}}]}),
        json!({"order_id": "L-3", "coupon": "ANA10",
               "items": [{"product_id": pens, "quantity": 1, "amount": {"amount": 1_850, "currency": "USD"}}]}),
    ] {
        let (status, order) = app.post("/v1/shop/orders", Some(&brand.token), &body).await;
        assert_eq!(status, 201, "{order}");
        assert_ne!(order["attribution"], json!("none"), "{order}");
    }

    let mut driver = Driver::start(chromium, &chromedriver).await;
    let browser = driver.browser().await;
    sign_in(&browser, &app, &ana.token, "/creator").await;
    let link = format!("#shop-links tr[data-code='{}']", ana_codes[0]);
    for (cell, expected) in [
        ("th", "Linen sketchbook"),
        ("td.clicks", "3"),
        ("td.orders", "1"),
        ("td.conversion", "33.3 %"),
        // 12 % of 48.00, and per click a third of it.
        ("td.commission", "5.76 USD"),
        ("td.per-click", "1.92 USD"),
    ] {
        assert_eq!(
            text_of(&browser, &format!("{link} {cell}")).await,
            expected,
            "{cell}"
        );
    }
    let pens_link = format!("#shop-links tr[data-code='{}']", ana_codes[1]);
    assert_eq!(
        text_of(&browser, &format!("{pens_link} td.clicks")).await,
        "1"
    );
    assert_eq!(
        text_of(&browser, &format!("{pens_link} td.orders")).await,
        "0"
    );
    assert_eq!(
        text_of(&browser, &format!("{pens_link} td.conversion")).await,
        "0 %"
    );
    // Pending: the link's order and the coupon's (15 % of 18.50 is 2.775: 2.77).
    assert_eq!(
        text_of(
            &browser,
            "#shop-commission tr[data-currency='USD'] td.pending"
        )
        .await,
        "8.53 USD (2 orders)"
    );
    assert_eq!(
        text_of(
            &browser,
            "#shop-commission tr[data-currency='USD'] td.locked"
        )
        .await,
        "0.00 USD (0 orders)"
    );
    screenshot(&browser, "dashboard-shop.png", 1200).await;

    // The brand signs in (no `next`: it lands on its page) and sees each creator's sales.
    sign_out(&browser, &app).await;
    browser
        .goto(&app.url("/signin"))
        .await
        .expect("the sign-in page opens");
    type_into(&browser, "#token", &brand.token).await;
    click(&browser, "form[action='/signin'] button[type=submit]").await;
    assert!(
        until(
            &browser,
            "window.location.pathname === '/brand'",
            Duration::from_secs(10)
        )
        .await,
        "a brand lands on its page"
    );
    for (creator, clicks, orders, sales, commission) in [
        ("ana.draws", "4", "2", "66.50 USD", "8.53 USD"),
        ("cy.paints", "2", "1", "24.00 USD", "2.88 USD"),
    ] {
        let row = format!("#sales tr[data-creator='{creator}']");
        assert_eq!(
            text_of(&browser, &format!("{row} th")).await,
            format!("@{creator}")
        );
        assert_eq!(text_of(&browser, &format!("{row} td.clicks")).await, clicks);
        assert_eq!(text_of(&browser, &format!("{row} td.orders")).await, orders);
        assert_eq!(text_of(&browser, &format!("{row} td.sales")).await, sales);
        assert_eq!(
            text_of(&browser, &format!("{row} td.commission")).await,
            commission
        );
    }
    assert!(
        text_of(&browser, "#commission-paid")
            .await
            .contains("11.41 USD"),
        "the commission paid in all"
    );
    assert_eq!(
        text_of(&browser, "#wallet tr[data-currency='USD'] td.balance").await,
        "488.59 USD"
    );
    assert_eq!(
        text_of(
            &browser,
            &format!("#products tr[data-product='{pens}'] td.rate")
        )
        .await,
        "15 %"
    );
    screenshot(&browser, "brand.png", 1200).await;
    browser.close().await.expect("closes");
}

#[tokio::test]
async fn the_operators_page_draws_the_lorenz_curve_of_creators_income_with_gini_and_top_share() {
    let Some((chromium, chromedriver)) = chromium() else {
        return;
    };
    let app = spawn_app().await;
    let ana = app.creator("ana.sings").await;
    let ben = app.creator("ben.cooks").await;
    let bob = app.viewer("bob", "US").await;
    let live = start_live(&app, &ana, "Songs", 10).await;
    app.bought(&bob.token, &live, 3).await;
    let live = start_live(&app, &ben, "Soup", 10).await;
    app.bought(&bob.token, &live, 1).await;
    let mut driver = Driver::start(chromium, &chromedriver).await;
    let browser = driver.browser().await;
    sign_in(&browser, &app, &app.admin_token, "/admin").await;
    // 0.99 and 4.99: Gini (499 − 99) / (2 · 598), the top 1 % (one creator) 499 / 598.
    assert_eq!(
        text_of(&browser, "#income tbody tr th").await,
        "USD",
        "one currency has income"
    );
    assert_eq!(text_of(&browser, "#income td.gini").await, "33.44 %");
    assert_eq!(text_of(&browser, "#income td.top").await, "83.44 %");
    // The chart is drawn by the browser: a curve of three points with a size on the page,
    // under the dashed line of equality.
    let drawn = browser
        .execute(
            "const svg = document.querySelector('#lorenz-USD svg'); \
             const curve = svg.querySelector('polyline.lorenz'); \
             const equality = svg.querySelector('line.equality'); \
             const box = curve.getBBox(); \
             return [curve.points.numberOfItems, box.width > 100, box.height > 100, \
                     svg.getBoundingClientRect().width >= 200, equality !== null, \
                     svg.getAttribute('aria-label')];",
            vec![],
        )
        .await
        .expect("the script runs");
    assert_eq!(
        drawn,
        json!([
            3,
            true,
            true,
            true,
            true,
            "Lorenz curve of creators' income in USD, last 90 days"
        ]),
        "the Lorenz chart"
    );
    screenshot(&browser, "admin-income.png", 1200).await;
    browser.close().await.expect("closes");
}

/// A creator with metrics and a cooking profile; returns them.
async fn cook(app: &TestApp, handle: &str, followers: u64, engagement_bps: u32) -> User {
    let creator = app.creator(handle).await;
    let (status, body) = app
        .put(
            &format!("/v1/creators/{}/metrics", creator.id),
            &app.admin_token,
            &json!({"followers": followers, "avg_views": followers / 4, "engagement_bps": engagement_bps,
                    "audience_countries": {"US": 7_000}, "audience_ages": {"18-24": 5_000}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .put(
            &format!("/v1/creators/{}/profile", creator.id),
            &creator.token,
            &json!({"niches": ["cooking"], "bio": "Weeknight dinners"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    creator
}

/// Waits until the offer row `row` says `status`.
async fn offer_is(browser: &Client, row: &str, status: &str) {
    assert!(
        until(
            browser,
            &format!("document.querySelector(\"{row}\") && document.querySelector(\"{row}\").dataset.status === '{status}'"),
            Duration::from_secs(10)
        )
        .await,
        "{row} becomes {status}"
    );
}

#[tokio::test]
async fn a_brand_offers_from_its_campaigns_ranked_matches_and_the_creator_accepts_and_delivers_from_the_dashboard()
 {
    let Some((chromium, chromedriver)) = chromium() else {
        return;
    };
    let app = spawn_app().await;
    let brand = funded_brand(&app, "saucy").await;
    let ana = cook(&app, "ana.cooks", 150_000, 900).await;
    cook(&app, "max.cooks", 1_500_000, 80).await;
    let (status, campaign) = app
        .post(
            "/v1/campaigns",
            Some(&brand.token),
            &json!({"title": "Hot sauce week", "brief": "Cook with our sauce", "niches": ["cooking"],
                    "countries": ["US"], "fee": {"amount": 15_000, "currency": "USD"}, "slots": 2,
                    "deadline": (time::OffsetDateTime::now_utc() + time::Duration::days(20))
                        .format(&time::format_description::well_known::Rfc3339).expect("a time")}),
        )
        .await;
    assert_eq!(status, 201, "{campaign}");
    let id = campaign["id"].as_str().expect("an id").to_owned();
    let mut driver = Driver::start(chromium, &chromedriver).await;
    let browser = driver.browser().await;

    // The brand's page lists the campaign; its page ranks the cooks and says why.
    sign_in(&browser, &app, &brand.token, "/brand").await;
    click(&browser, &format!("#campaigns tr[data-campaign='{id}'] a")).await;
    assert!(
        until(
            &browser,
            "document.querySelector('#matches') !== null",
            Duration::from_secs(10)
        )
        .await,
        "the campaign's page opens"
    );
    let row = "#matches tr[data-creator='ana.cooks']";
    assert_eq!(text_of(&browser, &format!("{row} td.tier")).await, "mid");
    assert!(!text_of(&browser, &format!("{row} td.why")).await.is_empty());
    assert_eq!(
        browser
            .execute(
                "return document.querySelectorAll('#matches tbody tr').length;",
                vec![]
            )
            .await
            .expect("runs"),
        json!(2)
    );
    // An offer of 120.00 USD instead of the campaign's 150.00.
    let fee = browser
        .find(Locator::Css(&format!("{row} input[name='fee.amount']")))
        .await
        .expect("the fee field");
    fee.clear().await.expect("cleared");
    fee.send_keys("12000").await.expect("typed");
    click(&browser, &format!("{row} button[type=submit]")).await;
    assert!(
        until(
            &browser,
            "document.querySelector('#offers') !== null",
            Duration::from_secs(10)
        )
        .await,
        "the offer is listed"
    );
    let offers = app
        .get(&format!("/v1/campaigns/{id}/offers"), Some(&brand.token))
        .await
        .1;
    let offer = offers["data"][0]["id"]
        .as_str()
        .expect("an offer")
        .to_owned();
    assert_eq!(offers["data"][0]["fee"]["amount"], json!(12_000));
    let brand_row = format!("#offers tr[data-offer='{offer}']");
    offer_is(&browser, &brand_row, "offered").await;
    let (_, wallet) = app.get("/v1/wallet", Some(&brand.token)).await;
    assert_eq!(
        wallet["balances"][0]["held"]["amount"],
        json!(12_000),
        "{wallet}"
    );

    // The creator accepts and delivers from the dashboard, and sees the campaign recommended.
    sign_out(&browser, &app).await;
    sign_in(&browser, &app, &ana.token, "/creator").await;
    assert!(
        text_of(&browser, &format!("#recommended li[data-campaign='{id}']"))
            .await
            .contains("Hot sauce week")
    );
    let deal_row = format!("#deals tr[data-offer='{offer}']");
    click(&browser, &format!("{deal_row} button[data-step='accept']")).await;
    offer_is(&browser, &deal_row, "accepted").await;
    type_into(
        &browser,
        &format!("{deal_row} input[name='url']"),
        "https://video.example/hot-sauce",
    )
    .await;
    click(&browser, &format!("{deal_row} button[data-step='deliver']")).await;
    offer_is(&browser, &deal_row, "delivered").await;

    // The brand approves: the creator is paid, less the platform's fee (none by default).
    sign_out(&browser, &app).await;
    sign_in(
        &browser,
        &app,
        &brand.token,
        &format!("/brand/campaigns/{id}"),
    )
    .await;
    click(
        &browser,
        &format!("{brand_row} button[data-step='approve']"),
    )
    .await;
    offer_is(&browser, &brand_row, "approved").await;
    let earnings = app.earnings_of(&ana.id).await;
    let deals = earnings["by_source"]
        .as_array()
        .expect("sources")
        .iter()
        .find(|s| s["source"] == json!("brand_deals"))
        .map(|s| s["total"]["amount"].clone());
    assert_eq!(deals, Some(json!(12_000)), "{earnings}");
    screenshot(&browser, "campaign.png", 1200).await;
    browser.close().await.expect("closes");
    app.verify().await;
}
