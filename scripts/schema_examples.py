"""Requests generated from the server's own OpenAPI document are requests the server takes.

For creating an account, a live, a comment and a purchase, schemathesis generates valid
requests from /openapi.json alone (the document's patterns, enums, ranges and lengths), and
each is sent with real ids: none may be refused for its form (400, 413, 422) or fail (a 5xx
other than the 503 `unavailable` the document lists everywhere),
and each operation must create something. Business answers the document lists (a taken
handle, a declined card, a key reused with another body) are fine.

    python scripts/schema_examples.py http://127.0.0.1:8080 <admin token> [examples]

Run by scripts/fuzz-api against a server without comment or open-live limits.
"""

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


creator = account("examples_creator", "creator", followers=50_000)
viewer = account("examples_viewer", "viewer")
live = api("POST", "/v1/lives", creator, {"title": "Examples"})["id"]

schema = schemathesis.openapi.from_url(f"{BASE}/openapi.json")
OPERATIONS = [
    ("POST", "/v1/accounts", ADMIN, {}),
    ("POST", "/v1/lives", creator, {}),
    ("POST", "/v1/lives/{id}/comments", viewer, {"id": live}),
    ("POST", "/v1/lives/{id}/badges", viewer, {"id": live}),
]

failed = False
for method, path, token, ids in OPERATIONS:
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
    if refused or not answers.get(201):
        failed = True

if failed:
    print("requests generated from the document were refused for their form, or created nothing")
    sys.exit(1)
print("every request generated from the document was taken")
