#!/usr/bin/env python3
"""Hostile tries against a running `stoa serve`, with the server's threads and memory watched.

Runs, against BASE (the server's URL) and PID (its process), the tries issue 28 names: 3,000 identical reports
from one person in a room, 40 avatar "bombs" (a 50 KB PNG that claims 8,192 x 8,192) uploaded at once by 40
accounts, 60 rooms started back to back by one account, and a listen-only token's `end_room`. For each it
prints what the server answered and the peak resident memory (VmHWM is for the whole life, so the peak is
sampled: VmRSS every 20 ms) and thread count while it ran.

    stoa admin invite --data DATA --uses 100       # an invite code for the script's accounts
    tests/aiortc/.venv/bin/python scripts/hostile-tries.py BASE PID INVITE

The venv is the test suite's (scripts/test makes it); it has `websockets`, which the room sockets need.
"""

import asyncio
import json
import struct
import sys
import threading
import time
import urllib.error
import urllib.request
import zlib

import websockets

BASE, PID, INVITE = sys.argv[1].rstrip("/"), int(sys.argv[2]), sys.argv[3]


def call(method, path, token=None, body=None, content_type="application/json"):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    if data is not None:
        req.add_header("content-type", content_type)
    if token:
        req.add_header("authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


def signup(name):
    status, body = call("POST", "/api/v1/auth/signup", body={
        "invite": INVITE, "username": name, "display_name": name, "password": name + "-password"})
    assert status == 201, (status, body)
    return body["token"], body["user"]["id"]


class Watch:
    """Samples the server's resident memory and threads until stopped."""

    def __init__(self):
        self.peak_rss_kb, self.peak_threads, self.running = 0, 0, True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            with open(f"/proc/{PID}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.peak_rss_kb = max(self.peak_rss_kb, int(line.split()[1]))
                    elif line.startswith("Threads:"):
                        self.peak_threads = max(self.peak_threads, int(line.split()[1]))
            time.sleep(0.02)

    def stop(self):
        self.running = False
        self.thread.join()
        return f"peak RSS {self.peak_rss_kb / 1024:.0f} MB, peak threads {self.peak_threads}"


def bomb_png(side=8192):
    """A valid PNG of side x side black pixels (1-bit grey) whose data is a zlib stream of zeros."""
    row = b"\x00" * (1 + (side + 7) // 8)
    raw = zlib.compressobj(9)
    idat = b"".join(raw.compress(row) for _ in range(side)) + raw.flush()

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


async def main():
    host, _ = signup("hostile_host")
    reporter, _ = signup("hostile_reporter")
    target, target_id = signup("hostile_target")
    status, room = call("POST", "/api/v1/rooms", host, {"title": "Tries", "visibility": "open"})
    assert status == 201, (status, room)
    ws_base = BASE.replace("http", "ws", 1) + f"/api/v1/rooms/{room['id']}/ws"
    sockets = []
    for token in (host, reporter, target):
        ws = await websockets.connect(ws_base, additional_headers={"authorization": "Bearer " + token})
        sockets.append(ws)

    # 1. 3,000 identical reports.
    watch = Watch()
    answers = {}
    for _ in range(3000):
        status, body = call("POST", f"/api/v1/rooms/{room['id']}/reports", reporter,
                            {"user_id": target_id, "reason": "spam"})
        key = (status, body.get("id") if status == 201 else body["error"]["code"])
        answers[key] = answers.get(key, 0) + 1
    print("3,000 reports:", answers, "|", watch.stop())

    # 2. 40 avatar bombs at once, from 40 accounts.
    tokens = [signup(f"hostile_bomber{i}")[0] for i in range(40)]
    png = bomb_png()
    watch = Watch()
    results = {}
    lock = threading.Lock()

    def upload(token):
        status, body = call("PUT", "/api/v1/me/avatar", token, png, "image/png")
        key = (status, body["error"]["code"] if isinstance(body, dict) and "error" in body else "ok")
        with lock:
            results[key] = results.get(key, 0) + 1

    started = time.time()
    threads = [threading.Thread(target=upload, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"40 avatar bombs ({len(png)} bytes each, {time.time() - started:.1f} s):", results, "|", watch.stop())

    # 3. 60 rooms back to back.
    watch = Watch()
    rooms = {}
    for i in range(60):
        status, body = call("POST", "/api/v1/rooms", host, {"title": f"Room {i}", "visibility": "open"})
        key = status if status == 201 else (status, body["error"]["code"])
        rooms[key] = rooms.get(key, 0) + 1
    print("60 rooms:", rooms, "|", watch.stop())

    # 4. A listen-only token of the room's moderator sends end_room.
    status, made = call("POST", "/api/v1/tokens", host, {"name": "listen", "scopes": ["listen"]})
    ws = await websockets.connect(ws_base, additional_headers={"authorization": "Bearer " + made["token"]})
    joined = json.loads(await ws.recv())
    await ws.send(json.dumps({"type": "end_room", "id": 1}))
    while True:
        event = json.loads(await ws.recv())
        if event.get("type") == "error":
            print("listen-only end_room:", event["code"], "| joined.may:", joined.get("may"))
            break
        if event.get("type") == "room_ended":
            print("listen-only end_room: THE ROOM ENDED")
            break
    status, info = call("GET", f"/api/v1/rooms/{room['id']}", reporter)
    print("the room afterwards:", status)
    for s in sockets:
        await s.close()


asyncio.run(main())
