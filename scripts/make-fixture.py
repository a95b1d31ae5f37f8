#!/usr/bin/env python3
"""Makes a data folder fixture with a given `stoa` binary: what a small community leaves in it, for the test
that opens every fixture with the current build (`upgrades::every_fixture_opens_with_everything_in_it`).

    tests/aiortc/.venv/bin/python scripts/make-fixture.py STOA OUT [--clubs]

Run it in a private network namespace (`unshare --net`, loopback up): it starts `STOA serve` on a fresh folder
OUT, and through its API makes four accounts (the first an admin), follows, a scheduled event, an access
token, a room with a 440 Hz speaker recorded to a replay and a report made in it, and with `--clubs` (0.2.0
and later) a club with a member and a conversation with a reported message. It stops the server cleanly,
and writes OUT/../FIXTURE.json (the version, the passwords' rule, the token, the IDs and the replay's
SHA-256): what the test expects to find.
"""

import asyncio
import hashlib
import json
import math
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import wave

import websockets

STOA, OUT = sys.argv[1], os.path.abspath(sys.argv[2])
CLUBS = "--clubs" in sys.argv[3:]
# `--database URL`: the server keeps its data in Postgres (then dump it: see tests/fixtures/README.md).
DATABASE = sys.argv[sys.argv.index("--database") + 1] if "--database" in sys.argv else None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PORT = free_port()
BASE = f"http://127.0.0.1:{PORT}"


def call(method, path, token=None, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ok(answer, want=(200, 201, 204)):
    status, body = answer
    assert status in want, (status, body)
    return body


def tone(path, seconds=6):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        frames = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / 48000)))
                          for i in range(48000 * seconds))
        w.writeframes(frames)


async def main():
    os.makedirs(OUT)
    global SERVER
    server = SERVER = subprocess.Popen([STOA, "serve", "--data", OUT, "--http", f"127.0.0.1:{PORT}", "--media-udp",
                               "127.0.0.1:0", "--media-tcp", "off"] + (["--database", DATABASE] if DATABASE else []),
                              stdout=subprocess.PIPE, text=True)
    bootstrap = None
    for line in server.stdout:
        m = re.search(r"/invite/([A-Za-z0-9_-]+)", line)
        if m:
            bootstrap = m.group(1)
            break
    assert bootstrap, "the server printed no invite"
    # Keep reading what it prints, so that it never blocks on a full pipe.
    import threading
    threading.Thread(target=lambda: [None for _ in server.stdout], daemon=True).start()
    version = subprocess.run([STOA, "--version"], capture_output=True, text=True).stdout.split()[-1]

    def signup(invite, name):
        body = ok(call("POST", "/api/v1/auth/signup", body={
            "invite": invite, "username": name, "display_name": name.capitalize(), "password": name + "-password"}))
        return body["token"], body["user"]["id"]

    admin, _ = signup(bootstrap, "operator")
    invite = ok(call("POST", "/api/v1/invites", admin, {}))["code"]
    people = {}
    for name in ["ann", "bob", "cat"]:
        people[name] = signup(invite, name) if name == "ann" else None
        if people[name] is None:
            invite = ok(call("POST", "/api/v1/invites", people["ann"][0], {}))["code"]
            people[name] = signup(invite, name)
    (ann, ann_id), (bob, bob_id), (cat, cat_id) = people["ann"], people["bob"], people["cat"]
    ok(call("POST", "/api/v1/users/bob/follow", ann, {}))
    ok(call("POST", "/api/v1/users/ann/follow", bob, {}))
    ok(call("POST", "/api/v1/users/ann/follow", cat, {}))
    starts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30 * 86400))
    event = ok(call("POST", "/api/v1/events", ann, {"title": "The fixture's event", "description": "Kept for years.",
                                                     "starts_at": starts, "visibility": "open"}))
    token = ok(call("POST", "/api/v1/tokens", bob, {"name": "fixture", "scopes": ["rooms:read", "listen"]}))

    # A recorded room: ann speaks a 440 Hz tone, bob and cat listen, cat reports bob; then ann ends it.
    room = ok(call("POST", "/api/v1/rooms", ann, {"title": "The fixture's room", "visibility": "open",
                                                   "outputs": {"recording": True}}))
    ws_url = BASE.replace("http", "ws", 1) + f"/api/v1/rooms/{room['id']}/ws"
    sockets = {}
    for name, token_ in (("bob", bob), ("cat", cat)):
        sockets[name] = await websockets.connect(ws_url, additional_headers={"authorization": "Bearer " + token_})
    wav = os.path.join(os.path.dirname(OUT), "fixture-tone.wav")
    tone(wav)
    bot = subprocess.Popen([STOA, "bot", "speak", "--server", BASE, "--token", ann, "--room", room["id"], "--file",
                            wav, "--seconds", "5", "--require-speaker"], stdout=subprocess.DEVNULL)
    # While Ann speaks (the room ends when its host, the last speaker, leaves), Cat reports Bob.
    await asyncio.sleep(2)
    report = ok(call("POST", f"/api/v1/rooms/{room['id']}/reports", cat, {"user_id": bob_id, "reason": "spam"}))
    assert bot.wait(timeout=60) == 0, "the bot failed"
    os.remove(wav)
    for s in sockets.values():
        await s.close()
    deadline = time.time() + 60
    while True:
        replays = ok(call("GET", f"/api/v1/rooms/{room['id']}/recordings", ann))
        ready = [r for r in replays.get("recordings", []) if r["kind"] == "replay" and r.get("duration_ms")]
        if ready:
            break
        assert time.time() < deadline, replays
        await asyncio.sleep(0.5)
    replay = ready[0]
    audio = urllib.request.urlopen(urllib.request.Request(BASE + replay["audio_url"],
                                                          headers={"authorization": "Bearer " + ann})).read()

    expect = {
        "version": version,
        "password": "USERNAME-password",
        "people": {"operator": {"admin": True}, "ann": {"id": ann_id}, "bob": {"id": bob_id}, "cat": {"id": cat_id}},
        "follows": [["ann", "bob"], ["bob", "ann"], ["cat", "ann"]],
        "event": {"id": event["id"], "title": "The fixture's event", "starts_at": event["starts_at"]},
        "token": {"owner": "bob", "token": token["token"], "scopes": ["rooms:read", "listen"]},
        "room": room["id"],
        "report": {"id": report["id"], "reporter": "cat", "target": "bob"},
        "replay": {"id": replay["id"], "bytes": len(audio), "sha256": hashlib.sha256(audio).hexdigest()},
    }
    if CLUBS:
        ok(call("POST", "/api/v1/clubs", ann, {"handle": "fixture_club", "name": "The Fixture Club",
                                                 "description": "Kept for years.", "policy": "open"}))
        ok(call("POST", "/api/v1/clubs/fixture_club/join", bob, {}))
        thread = ok(call("POST", "/api/v1/threads", ann, {"usernames": ["bob"], "text": "First, from Ann"}))
        reply = ok(call("POST", f"/api/v1/threads/{thread['id']}/messages", bob, {"text": "A reply, from Bob"}))
        flagged = ok(call("POST", f"/api/v1/messages/{reply['id']}/reports", ann, {"reason": "harassment"}))
        expect["club"] = {"handle": "fixture_club", "members": ["ann", "bob"]}
        expect["thread"] = {"id": thread["id"], "texts": ["A reply, from Bob", "First, from Ann"],
                            "report": flagged["id"]}

    server.send_signal(signal.SIGTERM)
    server.wait(timeout=60)
    # One file to commit: the write-ahead log folded into the database (the last connection's close removes it).
    if not DATABASE:
        import sqlite3
        db = sqlite3.connect(os.path.join(OUT, "stoa.db"))
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        for leftover in ("stoa.db-wal", "stoa.db-shm"):
            assert not os.path.exists(os.path.join(OUT, leftover)), f"{leftover} is left"
    with open(os.path.join(os.path.dirname(OUT), "FIXTURE.json"), "w") as f:
        json.dump(expect, f, indent=2)
        f.write("\n")
    print(json.dumps(expect))


SERVER = None


def stop_server():
    if SERVER and SERVER.poll() is None:
        SERVER.kill()


try:
    asyncio.run(main())
finally:
    stop_server()
