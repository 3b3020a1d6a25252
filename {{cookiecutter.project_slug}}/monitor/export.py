"""`make monitor-export`: a window's requests as training-data candidates, for review.

One JSON line per judged request: {"request_id", "text", "answered_label", "received_at"}.
`text` is the customer's message with the served prompt's template stripped off, exactly the
text the monitor judged (monitor/run.py `frame()`); it was redacted when the server logged it
(serving/request_log.py), so the file holds no e-mail, phone or card number the redaction
catches. `answered_label` is the model's answer, not a verified label: a person reviews the
candidates (or `make feedback` corrects them) before they become training data. Requests whose
body was cut at --max-log-len have no text and are left out, as the monitor leaves them out.
The file is written atomically, and only once the whole window has been read: on any error
nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path

from common.evidence import write_atomic
from monitor.logs import Readout
from monitor.reference import Reference
from monitor.run import frame, rows_of


def candidates(readout: Readout, reference: Reference) -> list[dict]:
    usable = [r for r in readout.requests if r.input is not None and not r.body_truncated]
    return [
        {
            "request_id": request.request_id,
            "text": row["text"],
            "answered_label": str(row["label"]),
            "received_at": request.received_at.isoformat(),
        }
        for request, row in zip(usable, rows_of(frame(usable, reference)), strict=True)
    ]


def export(readout: Readout, reference: Reference, out: Path) -> list[dict]:
    found = candidates(readout, reference)
    write_atomic(out, "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in found))
    return found
