"""What a Gateway tells an API client at session start: the shared protocol tables, as the probe
and doctor use them. The one home of this code is :mod:`ibproto.client` (and :mod:`ibproto.codes`
for the meanings); this module only names what the launcher takes from there."""

from __future__ import annotations

from ibproto.client import (  # noqa: F401  (re-exported for the probe and doctor)
    CodeMeaning,
    ErrorRecord,
    SessionTranscript,
    encode_start_api,
    meaning_of,
    parse_error_record,
)
from ibproto.codes import CLIENT_ID_IN_USE, CODES, CONNECTIVITY_LOST, CONNECTIVITY_RESTORED, Severity  # noqa: F401
