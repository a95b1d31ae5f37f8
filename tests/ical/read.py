"""Reads an iCalendar (RFC 5545) file with the `icalendar` library, an independent parser, and prints what
it found as JSON: the calendar's properties and each event's. Exits non-zero if the file does not parse.

    read.py FILE
"""
import json
import sys

import icalendar

with open(sys.argv[1], "rb") as f:
    cal = icalendar.Calendar.from_ical(f.read())

out = {"calendar": {k: str(v) for k, v in cal.items()}, "events": []}
for ev in cal.walk("VEVENT"):
    out["events"].append({
        "uid": str(ev["UID"]),
        "summary": str(ev["SUMMARY"]),
        "description": str(ev.get("DESCRIPTION", "")),
        "start": ev.decoded("DTSTART").isoformat(),
        "end": ev.decoded("DTEND").isoformat(),
        "status": str(ev.get("STATUS", "")),
        "sequence": int(ev.get("SEQUENCE", 0)),
        "url": str(ev.get("URL", "")),
        "dtstamp": ev.decoded("DTSTAMP").isoformat(),
    })
print(json.dumps(out))
