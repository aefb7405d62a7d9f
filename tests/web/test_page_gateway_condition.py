"""The page's Gateway row shows the supervisor's condition by name (status gives a mapping since issue 12)."""

from launcher.web.page import _gateway_row


def test_the_gateway_row_names_the_condition_the_supervisor_reports():
    status = {"services": [{"name": "gw", "state": "healthy",
                            "condition": {"state": "farms-broken", "detail": "farms broken: usfarm since 14:02:11",
                                          "since": 1.7e9, "until": None, "also": [], "farms_broken": ["usfarm"]}}]}
    row = _gateway_row("gw", status)
    assert '<span class="gw-condition">farms-broken</span>' in row and "{" not in row
    assert "not reported by this supervisor" in _gateway_row("gw", {"services": [{"name": "gw"}]})
