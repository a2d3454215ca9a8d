"""Schemathesis hooks for the API contract check (SCHEMATHESIS_HOOKS=contract_hooks).

openapi.yaml describes each query parameter on its own; OpenAPI 3.0 cannot say how two relate.
The history routes have three such rules, documented in the parameters' descriptions:
`from` is before `to`, the period spans at most 400 days, and a missing `to` is now (a missing
`from` is a default period before `to`). A request that breaks one is answered 400 with the
reason, rightly; but it is no "schema-valid request refused". So a *positive* case (one the
specification says must be accepted) whose times break a rule gets a valid period instead,
keeping which of `from` and `to` it sends; negative cases are left exactly as generated.
"""
import datetime
import re

import schemathesis

SECONDS = re.compile(r"^[0-9]{1,11}(\.[0-9]+)?$")
MAXIMUM_SPAN = 400 * 86400
# The default period of each route when only `to` is given (HistoryRoutes.swift).
DEFAULT_SECONDS = {"readings": 3600, "readings.csv": 86400, "report": 30 * 86400}


def instant(text):
    """Unix seconds of a `from`/`to` value, or None when it is not a real instant in 1970...9999."""
    if not isinstance(text, str):
        return None
    if SECONDS.match(text):
        return float(text)
    try:
        value = datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
    return value if 0 <= value <= 253402300799 else None


def acceptable(query, route):
    now = datetime.datetime.now(datetime.timezone.utc).timestamp()
    start, end = instant(query.get("from")), instant(query.get("to"))
    if ("from" in query and start is None) or ("to" in query and end is None):
        return False
    if route in DEFAULT_SECONDS:
        end = now if end is None else end
        start = end - DEFAULT_SECONDS[route] if start is None else start
    if start is None or end is None:
        return True
    return start < end and end - start <= MAXIMUM_SPAN


@schemathesis.hook
def map_case(context, case):
    query = case.query
    if not query or ("from" not in query and "to" not in query):
        return case
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return case
    route = case.operation.path.rsplit("/", 1)[-1]
    if acceptable(query, route):
        return case
    end = int(datetime.datetime.now(datetime.timezone.utc).timestamp()) - 60
    if "to" in query:
        query["to"] = datetime.datetime.fromtimestamp(end, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if "from" in query:
        query["from"] = str(end - 1800)
    return case
