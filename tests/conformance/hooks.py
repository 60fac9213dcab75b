"""Schemathesis hooks of the conformance stage (scripts/conformance).

Two constraints of the server cannot be written in an OpenAPI schema, and
docs/openapi.yaml states them in words instead:

- Lengths in bytes. A key, `prefix` and `after` are at most 1024 bytes of
  UTF-8; JSON Schema's maxLength counts characters. The document says
  maxLength 1024, so a string of more than 1024 characters is invalid by
  both, but a valid one of, say, 600 non-ASCII characters is too long for
  the server.
- The topic's partitions. A position names a partition of the topic, which
  has as many as the deployment gave it; a position of a partition it does
  not have is 400 bad_min_position. The replica under test has 6.

So, just before each request is sent, a value that is valid by the document
is made valid for the server too: a string over the byte limit is cut to it
(at a character boundary), and each partition of a valid `min_position` (query
or X-KV-Min-Position) is taken modulo the topic's partitions. Invalid values
are left as they are, so negative tests still send them.

And one guard for Schemathesis itself: a value is answered with the content
type it was written with, and Schemathesis writes arbitrary bytes under YAML
media types, then parses what it reads back as YAML to mine it for later
requests. Its YAML deserializer lets the parser's error escape, which ends
the worker thread it runs on (Schemathesis 4.32.5) and with it the rest of
that thread's tests. The one here turns that error into a ValueError, which
Schemathesis handles (the bytes are not YAML: nothing to mine).
"""

import os
import re
from collections.abc import MutableMapping

import schemathesis
import yaml

PARTITIONS = int(os.environ.get("CONFORMANCE_PARTITIONS", "6"))
MAX_BYTES = 1024
_POSITIONS = re.compile(r"[0-9]{1,9}:[0-9]{1,18}(,[0-9]{1,9}:[0-9]{1,18})*")


def _within_bytes(value):
    if not isinstance(value, str) or "\x00" in value or len(value) > MAX_BYTES:
        return value  # not valid by the document: left to the negative tests
    data = value.encode("utf-8", "surrogatepass")
    if len(data) <= MAX_BYTES:
        return value
    return data[:MAX_BYTES].decode("utf-8", "ignore")


def _into_topic(value):
    if not isinstance(value, str) or not _POSITIONS.fullmatch(value):
        return value
    positions = (p.split(":") for p in value.split(","))
    return ",".join(f"{int(partition) % PARTITIONS}:{offset}" for partition, offset in positions)


@schemathesis.hook
def before_call(context, case, kwargs):
    if isinstance(case.path_parameters, MutableMapping) and "key" in case.path_parameters:
        case.path_parameters["key"] = _within_bytes(case.path_parameters["key"])
    if isinstance(case.query, MutableMapping):
        for name in ("prefix", "after"):
            if name in case.query:
                case.query[name] = _within_bytes(case.query[name])
        if "min_position" in case.query:
            case.query["min_position"] = _into_topic(case.query["min_position"])
    if isinstance(case.headers, MutableMapping):
        for name in list(case.headers):
            if name.lower() == "x-kv-min-position":
                case.headers[name] = _into_topic(case.headers[name])



@schemathesis.deserializer(
    "text/yaml", "text/x-yaml", "application/x-yaml", "text/vnd.yaml", "application/yaml"
)
def yaml_or_value_error(context, response):
    try:
        return yaml.safe_load(response.content)
    except yaml.YAMLError as exc:
        raise ValueError(f"not YAML: {exc}") from exc
