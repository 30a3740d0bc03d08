"""Requests generated from the server's own OpenAPI document are requests the server takes.

For each operation below (accounts, lives, comments and purchases first, then tokens, the
shop, wallets, the marketplace and match programs), schemathesis generates requests from
/openapi.json alone (the document's patterns, enums, ranges and lengths), and each is sent
with real ids: none may be refused for its form (400, 413, 422) or fail (a 5xx other than the
503 `unavailable` the document lists everywhere), and each operation must succeed at least
once. Business answers the document lists (a taken handle, a declined card, a key reused with
another body, a wallet too low) are fine.

What a schema cannot say is set on the generated body before it is sent, and only that:
which existing ids it names, a currency that must be another's (a wallet's, a campaign's),
and an order between two times.

    python scripts/schema_examples.py http://127.0.0.1:8080 <admin token> [examples]

Run by scripts/fuzz-api against a server without comment or open-live limits.
"""

import datetime
import json
import sys
import urllib.request

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

BASE, ADMIN = sys.argv[1], sys.argv[2]
EXAMPLES = int(sys.argv[3]) if len(sys.argv) > 3 else 40
REFUSED_FOR_FORM = {400, 413, 422}


def api(method, path, token, body=None):
    request = urllib.request.Request(
        BASE + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def account(handle, kind, **extra):
    made = api("POST", "/v1/accounts", ADMIN, {"handle": handle, "kind": kind, "country": "US", **extra})
    return api("POST", f"/v1/accounts/{made['id']}/tokens", ADMIN)["token"]


def me(token):
    return api("GET", "/v1/me", token)["id"]


def in_future(days):
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    return later.strftime("%Y-%m-%dT%H:%M:%SZ")


creator = account("examples_creator", "creator", followers=50_000)
viewer = account("examples_viewer", "viewer")
brand = account("examples_brand", "brand")
creator_id, viewer_id, brand_id = me(creator), me(viewer), me(brand)
live = api("POST", "/v1/lives", creator, {"title": "Examples"})["id"]
PRODUCT = {
    "title": "Examples",
    "url": "https://shop.example/p/1",
    "price": {"amount": 2500, "currency": "USD"},
    "category": "examples",
    "commission_bps": 1000,
}
product = api("POST", "/v1/products", brand, PRODUCT)["id"]
patched = api("POST", "/v1/products", brand, PRODUCT)["id"]
api("PUT", f"/v1/creators/{creator_id}/profile", creator, {"niches": ["examples"]})
campaign = api(
    "POST",
    "/v1/campaigns",
    brand,
    {
        "title": "Examples",
        "brief": "Examples",
        "fee": {"amount": 1000, "currency": "USD"},
        "slots": 1000,
        "deadline": in_future(30),
    },
)["id"]
api("POST", "/v1/wallet/topups", brand, {"amount": {"amount": 10_000_000, "currency": "USD"}, "payment_method": "pm_card_visa"})
program = api(
    "POST",
    "/v1/match-programs",
    ADMIN,
    {"name": "Examples", "rate_bps": 10_000, "caps": [{"amount": 1000, "currency": "USD"}], "ends_at": in_future(30)},
)["id"]


def in_usd(*fields):
    """Sets the currency of the money at `fields` (where present) to the buyer's, USD."""

    def fix(body):
        for field in fields:
            if isinstance(body.get(field), dict):
                body[field]["currency"] = "USD"

    return fix


def shop(body):
    body["products"] = [product][: len(body["products"])]


def link(body):
    body["product_id"] = product


def order(body):
    for item in body["items"]:
        item["product_id"] = product
        item["amount"]["currency"] = "USD"


def offer(body):
    body["creator_id"] = creator_id
    body["fee"]["currency"] = "USD"


def match_program(body):
    body["caps"] = list({cap["currency"]: cap for cap in body["caps"]}.values())
    for money in body.get("budget", []):
        money["currency"] = body["caps"][0]["currency"]
    now = datetime.datetime.now(datetime.timezone.utc)
    starts = datetime.datetime.fromisoformat(body["starts_at"]) if body.get("starts_at") else now
    if datetime.datetime.fromisoformat(body["ends_at"]) <= starts:
        body.pop("starts_at", None)
        body["ends_at"] = in_future(30)


schema = schemathesis.openapi.from_url(f"{BASE}/openapi.json")
# (method, path, token, path ids, what the schema cannot say)
OPERATIONS = [
    ("POST", "/v1/accounts", ADMIN, {}, None),
    ("POST", "/v1/lives", creator, {}, None),
    ("POST", "/v1/lives/{id}/comments", viewer, {"id": live}, None),
    ("POST", "/v1/lives/{id}/badges", viewer, {"id": live}, None),
    ("POST", "/v1/accounts/{id}/tokens", ADMIN, {"id": viewer_id}, None),
    ("PUT", "/v1/accounts/{id}/payout-account", ADMIN, {"id": creator_id}, None),
    ("POST", "/v1/wallet/topups", viewer, {}, in_usd("amount")),
    ("PUT", "/v1/me/spending-limits", viewer, {}, in_usd("daily", "weekly")),
    ("POST", "/v1/products", brand, {}, None),
    ("PATCH", "/v1/products/{id}", brand, {"id": patched}, None),
    ("PUT", "/v1/brands/{id}/shop-settings", brand, {"id": brand_id}, None),
    ("PUT", "/v1/creators/{id}/shop", creator, {"id": creator_id}, shop),
    ("POST", "/v1/links", creator, {}, link),
    ("POST", "/v1/coupons", creator, {}, lambda body: body.update(brand_id=brand_id)),
    ("POST", "/v1/shop/orders", brand, {}, order),
    ("POST", "/v1/campaigns", brand, {}, None),
    ("POST", "/v1/campaigns/{id}/offers", brand, {"id": campaign}, offer),
    ("PUT", "/v1/creators/{id}/profile", creator, {"id": creator_id}, None),
    ("PUT", "/v1/creators/{id}/metrics", ADMIN, {"id": creator_id}, None),
    ("POST", "/v1/match-programs", ADMIN, {}, match_program),
    ("POST", "/v1/match-programs/{id}/budget", ADMIN, {"id": program}, in_usd("amount")),
]

failed = False
for method, path, token, ids, fix in OPERATIONS:
    operation = schema[path][method]
    answers = {}
    refused = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def send(case):
        if ids:
            case.path_parameters = {**(case.path_parameters or {}), **ids}
        if fix and isinstance(case.body, dict):
            fix(case.body)
        response = case.call(base_url=BASE, headers={"Authorization": f"Bearer {token}"})
        answers[response.status_code] = answers.get(response.status_code, 0) + 1
        # 503 `unavailable` is an answer the document gives every operation (the sandbox's
        # pm_card_lostAnswer makes one on purpose); any other 5xx is a failure.
        if response.status_code in REFUSED_FOR_FORM or response.status_code in (500, 501, 502, 504):
            refused.append((case.body, dict(case.headers or {}), response.status_code, response.text))

    send()
    print(f"{method} {path}: {sum(answers.values())} generated requests, answered {dict(sorted(answers.items()))}")
    for body, headers, status, text in refused[:5]:
        print(f"  refused {status}: body {json.dumps(body, ensure_ascii=False)} headers {headers}: {text}")
    if refused or not any(200 <= status < 300 for status in answers):
        failed = True

if failed:
    print("requests generated from the document were refused for their form, or created nothing")
    sys.exit(1)
print("every request generated from the document was taken")
