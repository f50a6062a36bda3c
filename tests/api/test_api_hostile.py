"""Hostile input to every parameter of the inspection API: a 400 problem (or the documented answer),
never a 500. The generated side of this is tests/api/test_api_schemathesis.py; these are the values a
generator rarely reaches (Unicode digits, 5,000-digit numbers, NUL, NaN, repeated parameters...)."""

import base64

import pytest

from tests.support.display import login_client, seed

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"
OPERATIONS = "/api/op-store/operations/"
SCHEMAS = "/api/op-store/schemas/"

#: Values no numeric or structured parameter accepts.
NOT_A_NUMBER = {
    "superscript two": "²",
    "fullwidth digits": "\uff11\uff12",
    "arabic-indic digits": "١٢",
    "5000 digits": "9" * 5000,
    "negative": "-1",
    "NUL": "\x00",
    "digit and NUL": "1\x00",
    "empty": "",
    "overlong": "x" * 10_000,
}


@pytest.fixture
def ops():
    return seed()


@pytest.fixture
def staff():
    return login_client()


def short(value: object) -> str:
    """A test id that stays readable for 10,000-character values."""
    text = repr(value)
    return text if len(text) <= 24 else f"{text[:12]}...({len(text)} chars)"


def _cursor(query: str) -> str:
    """A cursor as DRF encodes one (base64 of a query string), with whatever is inside."""
    return base64.b64encode(query.encode()).decode()


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["code"] == code
    assert body["type"] == f"urn:op-store:problem:{code}"
    return body


def _invalid(response, field: str) -> None:
    body = _problem(response, 400, "invalid")
    assert set(body["errors"]) == {field}, body


# --- page_size, on both lists ------------------------------------------------------------------


@pytest.mark.parametrize("url", [OPERATIONS, SCHEMAS])
@pytest.mark.parametrize("value", [*NOT_A_NUMBER.values(), "0", "501", str(2**64), "1.5", " 5", "0x10"], ids=short)
def test_a_hostile_page_size_is_a_400_problem(staff, ops, url, value):
    response = staff.get(url, {"page_size": value})
    _invalid(response, "page_size")
    assert response.json()["errors"]["page_size"] == ["an integer in 1..500"]


@pytest.mark.parametrize("url", [OPERATIONS, SCHEMAS])
def test_a_page_size_given_twice_is_a_400_problem(staff, ops, url):
    _invalid(staff.get(f"{url}?page_size=5&page_size=6"), "page_size")


# --- the operation filters ---------------------------------------------------------------------

#: (parameter, values it refuses). Text parameters take any text but NUL, up to 255 characters.
OPERATION_FILTERS = [
    ("state", [*NOT_A_NUMBER.values(), "sealed,", "SEALED", "sealed\n"]),
    ("scope", ["\x00", "alice\x00", "x" * 256]),
    ("method", ["\x00", "x" * 256]),
    ("key", ["\x00", "k" * 10_000]),
    (
        "operation_id",
        [
            *NOT_A_NUMBER.values(),
            "0xg",
            "0x",
            "0x" + "f" * 17,
            "1" * 21,
            "12\n",
            "0x\uff11\uff12",
        ],
    ),
    (
        "created_after",
        [
            "yesterday",
            "\uff12\uff10\uff12\uff16-01-01",
            "٢٠٢٦-01-01",
            "²⁰²⁶-01-01",
            "2026-13-01",
            "2026-01-01T00:00:00+99:00",
            "\x00",
            "9" * 5000,
        ],
    ),
    ("created_before", ["", "0000-01-01", "2026-01-01T25:00", "x" * 10_000]),
    ("older_than", [*NOT_A_NUMBER.values(), "nan", "NaN", "inf", "-inf", "1e309", "1e10", "-0.5"]),
    ("lease_expired", ["maybe", "²", "", "\x00", "x" * 10_000]),
]


@pytest.mark.parametrize(
    ("name", "value"), [(name, value) for name, values in OPERATION_FILTERS for value in values], ids=short
)
def test_a_hostile_operation_filter_is_a_400_problem(staff, ops, name, value):
    _invalid(staff.get(OPERATIONS, {name: value}), name)


@pytest.mark.parametrize(
    "value",
    ["0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00", "9999-12-31T23:59:59"],
)
@pytest.mark.parametrize("name", ["created_after", "created_before"])
def test_instants_at_the_ends_of_the_calendar_never_500(staff, ops, name, value):
    response = staff.get(OPERATIONS, {name: value})
    assert response.status_code in (200, 400), response.content[:300]
    if response.status_code == 400:
        _invalid(response, name)


@pytest.mark.parametrize("name", ["scope", "method", "key", "operation_id", "older_than", "lease_expired"])
def test_a_single_valued_filter_given_twice_is_a_400_problem(staff, ops, name):
    value = {"older_than": "1", "lease_expired": "true", "operation_id": "1"}.get(name, "alice")
    body = _problem(staff.get(f"{OPERATIONS}?{name}={value}&{name}={value}"), 400, "invalid")
    assert body["errors"] == {name: ["given more than once"]}


def test_state_may_be_repeated(staff, ops):
    response = staff.get(f"{OPERATIONS}?state=admitted&state=expired&page_size=100")
    assert response.status_code == 200
    assert {row["state"] for row in response.json()["results"]} == {"admitted", "expired"}


@pytest.mark.parametrize("value", [str(2**64), str(2**64 - 1), "0x" + "f" * 16, "0" * 20, "0"])
def test_operation_ids_up_to_20_digits_are_accepted(staff, ops, value):
    response = staff.get(OPERATIONS, {"operation_id": value})
    assert response.status_code == 200 and response.json()["results"] == []


def test_an_empty_text_filter_means_the_empty_value(staff, ops):
    """``scope=`` asks for operations with the empty scope (a documented scope, e.g. ``shared`` resolvers'),
    not for every scope."""
    response = staff.get(OPERATIONS, {"scope": ""})
    assert response.status_code == 200 and response.json()["results"] == []


def test_unknown_parameters_are_ignored(staff, ops):
    response = staff.get(OPERATIONS, {"\x00": "\x00", "page": "²", "ordering": "response"})
    assert response.status_code == 200 and response.json()["results"]


# --- cursors -----------------------------------------------------------------------------------

#: Cursors a client could not have been given: all answer DRF's documented 404 "Invalid cursor".
BAD_CURSORS = {
    "not base64": "not-a-cursor",
    "empty": "",
    "NUL": "\x00",
    "overlong": "A" * 10_000,
    "superscript position": _cursor("p=²"),
    "text position": _cursor("p=abc"),
    "NUL position": _cursor("p=1\x00"),
    "position past 2**63": _cursor(f"p={2**64}"),
    "5000-digit position": _cursor("p=" + "9" * 5000),
    "negative position": _cursor("p=-1"),
    "5000-digit offset": _cursor("o=" + "9" * 5000),
    "superscript offset": _cursor("o=²"),
    "reverse flag": _cursor("r=²"),
    "repeated position": _cursor("p=1&p=2"),
}


@pytest.mark.parametrize("url", [OPERATIONS, SCHEMAS])
@pytest.mark.parametrize("cursor", BAD_CURSORS.values(), ids=BAD_CURSORS.keys())
def test_a_forged_cursor_is_a_404_problem(staff, ops, url, cursor):
    response = staff.get(url, {"cursor": cursor})
    assert response.status_code in (200, 404), response.content[:300]
    if response.status_code == 404:
        _problem(response, 404, "not-found")


def test_a_cursor_with_a_huge_offset_is_capped_not_a_500(staff, ops):
    response = staff.get(OPERATIONS, {"cursor": _cursor("o=999999999&p=5")})
    assert response.status_code == 200


def test_a_cursor_given_twice_is_a_400_problem(staff, ops):
    first = staff.get(OPERATIONS, {"page_size": 2}).json()["next"]
    cursor = first.split("cursor=")[1].split("&")[0]
    _invalid(staff.get(f"{OPERATIONS}?cursor={cursor}&cursor={cursor}"), "cursor")


# --- the schema filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("kind", "²"),
        ("kind", ""),
        ("kind", "\x00"),
        ("kind", "STRUCT"),
        ("kind", "x" * 10_000),
        ("name", "\x00"),
        ("name", "x" * 256),
    ],
    ids=short,
)
def test_a_hostile_schema_filter_is_a_400_problem(staff, ops, name, value):
    _invalid(staff.get(SCHEMAS, {name: value}), name)


@pytest.mark.parametrize("name", ["kind", "name"])
def test_a_schema_filter_given_twice_is_a_400_problem(staff, ops, name):
    _invalid(staff.get(f"{SCHEMAS}?{name}=struct&{name}=enum"), name)


# --- ids in the path -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pk",
    [
        str(2**63),
        str(2**64),
        "9" * 30,
        "9" * 5000,
        "0" * 30 + "1",
        "%C2%B2",  # ²
        "%EF%BC%91",  # fullwidth 1
        "%00",
        "-1",
        "0x1",
    ],
)
@pytest.mark.parametrize("method", ["get", "delete"])
def test_an_impossible_operation_pk_is_a_404_problem(staff, ops, pk, method):
    _problem(getattr(staff, method)(f"{OPERATIONS}{pk}/"), 404, "not-found")


@pytest.mark.parametrize(
    "schema_hash", ["f" * 17, "g" * 16, "%C2%B2" * 16, "%00" * 16, "\uff10" * 16, "f" * 5000, "-" + "f" * 15]
)
def test_an_impossible_schema_hash_is_a_404_problem(staff, ops, schema_hash):
    _problem(staff.get(f"{SCHEMAS}{schema_hash}/"), 404, "not-found")


def test_the_largest_schema_hash_is_a_plain_404(staff, ops):
    _problem(staff.get(f"{SCHEMAS}{'f' * 16}/"), 404, "not-found")


# --- the purge body ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ('{"dry_run": "²"}', "invalid"),
        ('{"dry_run": 1}', "invalid"),
        ('{"dry_run": null}', "invalid"),
        ('{"dry_run": "true"}', "invalid"),
        ("[]", "invalid"),
        ('"\\u0000"', "invalid"),
        ("1" * 5000, "parse-error"),  # beyond int()'s digit limit
        ("[" * 100_000 + "]" * 100_000, "parse-error"),  # nested past the recursion limit
        ('{"dry_run": true', "parse-error"),
        ("\x00", "parse-error"),
        ("NaN", "parse-error"),
        ('{"dry_run": NaN}', "parse-error"),
    ],
    ids=short,
)
def test_a_hostile_purge_body_is_a_400_problem(staff, ops, body, code):
    response = staff.post("/api/op-store/purge/", body, content_type="application/json")
    _problem(response, 400, code)


def test_a_purge_body_with_a_repeated_key_keeps_a_json_object(staff, ops):
    """Duplicate keys in a JSON object: the last wins (Python's json, as most parsers)."""
    response = staff.post(
        "/api/op-store/purge/", '{"dry_run": false, "dry_run": true}', content_type="application/json"
    )
    assert response.status_code == 200 and response.json()["dry_run"] is True
