"""A handshake answer that only arrives while the probe is closing is late, not a failed session."""

from __future__ import annotations

from launcher.probes.ib_api import API_SILENT, IbApiDiagnosis, judge


def test_answer_after_the_deadline_is_api_silent_not_a_session_failure():
    diagnosis = IbApiDiagnosis("127.0.0.1", 4002, True, 999)
    diagnosis.tcp_connected = True
    diagnosis.handshake_sent = True
    diagnosis.server_version = 178
    diagnosis.handshake_seconds = 2.3
    verdict, failure = judge(diagnosis, None, 2.0)
    assert verdict == API_SILENT
    assert "answered only after" in failure and "startApi" not in failure
