"""Operators get one JSON line per request, carrying the caller's request id."""

import json


def _json_lines(capsys) -> list[dict]:
    lines = []
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_one_json_line_per_request_with_the_incoming_request_id(client, capsys):
    response = client.get("/healthz", headers={"X-Request-ID": "edge-abc-123"})
    assert response.headers["X-Request-ID"] == "edge-abc-123"
    requests = [e for e in _json_lines(capsys) if e.get("event") == "request"]
    assert len(requests) == 1
    entry = requests[0]
    assert entry["request_id"] == "edge-abc-123"
    assert entry["path"] == "/healthz" and entry["status"] == 200 and entry["method"] == "GET"
    assert isinstance(entry["duration_ms"], float)


def test_a_request_id_is_generated_when_missing_or_unsafe(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    unsafe = client.get("/healthz", headers={"X-Request-ID": '"><script>alert(1)</script>'})
    assert "<script>" not in unsafe.headers["X-Request-ID"]
    assert len(unsafe.headers["X-Request-ID"]) == 32
