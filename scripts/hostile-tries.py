#!/usr/bin/env python3
"""Hostile tries against a running `stoa serve`, with the server's threads and memory watched.

Runs, against BASE (the server's URL) and PID (its process), the tries issue 28 names: 3,000 identical reports
from one person in a room, 40 avatar "bombs" (a 50 KB PNG that claims 8,192 x 8,192) uploaded at once by 40
accounts, 60 rooms started back to back by one account, and a listen-only token's `end_room`. For each it
prints what the server answered and the peak resident memory (VmHWM is for the whole life, so the peak is
sampled: VmRSS every 20 ms) and thread count while it ran.

Then issue 31's: a club's members-only room looked for by its ID, as a stranger, on every public surface (each
answer set against a room that never existed), 3,000 messages in one conversation, Requests flooded (new
conversations with 100 strangers), a message to someone who blocked the sender, a group read after leaving
it, and 20 clubs made back to back.

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
    clubs_and_messages()


def clubs_and_messages():
    owner, _ = signup("hostile_club_owner")
    stranger, _ = signup("hostile_stranger")
    status, club = call("POST", "/api/v1/clubs", owner, {"handle": "hostile_inner", "name": "Inner", "policy": "invitation"})
    assert status == 201, (status, club)
    status, room = call("POST", "/api/v1/rooms", owner,
                        {"title": "Members only", "visibility": "closed", "club": "hostile_inner"})
    assert status == 201, (status, room)

    # 5. The members-only room by its ID, on every surface a stranger can reach, against a made-up ID.
    surfaces = ["", "/audience", "/clips", "/recordings", "/preview", "/listen", "/invited"]
    same, differs = 0, []
    for rid in (room["id"],):
        for surface in surfaces:
            a = call("GET", f"/api/v1/rooms/{rid}{surface}", stranger)
            b = call("GET", f"/api/v1/rooms/nosuchroom00{surface}", stranger)
            if a == b:
                same += 1
            else:
                differs.append((surface, a[0], b[0]))
        for method, surface, body in (("POST", "/whep", b"v=0"), ("POST", "/reports", {"user_id": 1, "reason": "spam"}),
                                      ("POST", "/ping", {"user_id": 1})):
            ct = "application/sdp" if isinstance(body, bytes) else "application/json"
            a = call(method, f"/api/v1/rooms/{rid}{surface}", stranger, body, ct)
            b = call(method, f"/api/v1/rooms/nosuchroom00{surface}", stranger, body, ct)
            if a == b:
                same += 1
            else:
                differs.append((surface, a[0], b[0]))
    hits = call("GET", "/api/v1/search?q=Members", stranger)[1]
    found = [r for r in hits.get("rooms", []) if r.get("id") == room["id"]]
    hallway = [r for r in call("GET", "/api/v1/rooms", stranger)[1].get("rooms", []) if r.get("id") == room["id"]]
    share = urllib.request.urlopen(BASE + f"/room/{room['id']}").read().decode()
    print(f"members-only room by its ID: {same} surfaces answer as for no room, differing: {differs};",
          f"in search: {len(found)}, in the hallway: {len(hallway)}, its title in the share page: {'Members only' in share}")

    # 6. 3,000 messages in one conversation, as fast as they go.
    friend, _ = signup("hostile_friend")
    call("POST", "/api/v1/users/hostile_friend/follow", stranger)
    call("POST", "/api/v1/users/hostile_stranger/follow", friend)
    status, thread = call("POST", "/api/v1/threads", stranger, {"usernames": ["hostile_friend"], "text": "Hi"})
    assert status == 201, (status, thread)
    watch = Watch()
    answers = {}
    for i in range(3000):
        status, body = call("POST", f"/api/v1/threads/{thread['id']}/messages", stranger, {"text": f"Flood {i}"})
        key = status if status == 201 else (status, body["error"]["code"])
        answers[key] = answers.get(key, 0) + 1
    print("3,000 messages in one conversation:", answers, "|", watch.stop())

    # 7. Requests flooded: new conversations with 100 people who do not follow the sender.
    targets = [signup(f"hostile_target{i}")[0] for i in range(100)]
    flooder, _ = signup("hostile_flooder")
    watch = Watch()
    answers = {}
    for i in range(100):
        status, body = call("POST", "/api/v1/threads", flooder, {"usernames": [f"hostile_target{i}"], "text": "Buy now"})
        key = status if status == 201 else (status, body["error"]["code"])
        answers[key] = answers.get(key, 0) + 1
    requests = sum(len(call("GET", "/api/v1/threads?requests=true", t)[1]["threads"]) for t in targets)
    print("new conversations with 100 strangers:", answers, f"| Requests that landed: {requests} |", watch.stop())

    # 8. A message to someone who blocked the sender; a group read after leaving it.
    call("POST", "/api/v1/users/hostile_flooder/block", targets[0])
    status, body = call("POST", "/api/v1/threads", flooder, {"usernames": ["hostile_target0"], "text": "Still here"})
    print("a message to someone who blocked me:", status, body["error"]["code"] if status >= 400 else body)
    status, group = call("POST", "/api/v1/threads", owner,
                         {"usernames": ["hostile_friend", "hostile_stranger"], "text": "A group"})
    assert status == 201, (status, group)
    call("POST", f"/api/v1/threads/{group['id']}/leave", friend)
    call("POST", f"/api/v1/threads/{group['id']}/messages", owner, {"text": "After you left"})
    read = call("GET", f"/api/v1/threads/{group['id']}/messages", friend)
    nothing = call("GET", "/api/v1/threads/999999999/messages", friend)
    print("a group read after leaving it:", read[0], "| a thread that never was:", nothing[0],
          "| same answer:", read == nothing)

    # 9. 20 clubs back to back.
    watch = Watch()
    answers = {}
    for i in range(20):
        status, body = call("POST", "/api/v1/clubs", stranger, {"handle": f"hostile_club{i}", "name": f"Club {i}",
                                                                "policy": "open"})
        key = status if status == 201 else (status, body["error"]["code"])
        answers[key] = answers.get(key, 0) + 1
    print("20 clubs back to back:", answers, "|", watch.stop())


asyncio.run(main())
