"""An independent WebRTC listener: aiortc (Python) joins a Stoa room as a new user's client would.

It opens the room's WebSocket with a bearer token, offers three receive-only audio m-sections in one
BUNDLE, applies the server's answer as aiortc reads it (aiortc takes a bundle's candidates from its last
m-section), and records what it hears for --seconds once the first audio frame arrives. It prints one
JSON line: whether ICE connected, how many audio frames were decoded, and the dominant frequency.

Usage: python listen.py --base http://127.0.0.1:PORT --token TOKEN --room ROOM [--seconds 3] [--loopback]
"""

import argparse
import asyncio
import json
import sys

import aioice.ice
import numpy as np
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

SLOTS = 3

# aioice never offers 127.0.0.1 as a host candidate; the tests run in a network namespace where loopback is
# the only interface, so let it (--loopback). Nothing else about how aiortc reads the answer changes.


async def next_event(ws, kind):
    while True:
        event = json.loads(await ws.recv())
        if event.get("type") == "error":
            raise RuntimeError(f"the server refused: {event}")
        if event.get("type") == kind:
            return event


def dominant_hz(samples, rate):
    if len(samples) < rate // 10:
        return 0.0
    window = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(window))
    spectrum[0] = 0
    return float(np.argmax(spectrum)) * rate / len(samples)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--room", required=True)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--loopback", action="store_true", help="gather 127.0.0.1 as a host candidate")
    args = parser.parse_args()
    if args.loopback:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []

    url = args.base.replace("http", "ws", 1) + f"/api/v1/rooms/{args.room}/ws"
    headers = {"Authorization": f"Bearer {args.token}"}
    result = {"connected": False, "frames": 0, "hz": 0.0, "ice": "new"}
    async with websockets.connect(url, additional_headers=headers) as ws:
        await next_event(ws, "joined")
        pc = RTCPeerConnection()
        for _ in range(SLOTS):
            pc.addTransceiver("audio", direction="recvonly")
        tracks = []
        pc.on("track", lambda track: tracks.append(track))

        connected = asyncio.Event()

        @pc.on("iceconnectionstatechange")
        def on_ice():
            result["ice"] = pc.iceConnectionState
            if pc.iceConnectionState in ("connected", "completed"):
                connected.set()

        await pc.setLocalDescription(await pc.createOffer())
        await ws.send(json.dumps({"type": "offer", "sdp": pc.localDescription.sdp}))
        answer = await next_event(ws, "answer")
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))

        # Keep reading the room's events (and so its pings) while media flows.
        async def drain():
            try:
                async for _ in ws:
                    pass
            except websockets.ConnectionClosed:
                pass

        reader = asyncio.create_task(drain())
        try:
            await asyncio.wait_for(connected.wait(), args.timeout)
            result["connected"] = True
        except asyncio.TimeoutError:
            print(json.dumps(result), flush=True)
            await pc.close()
            reader.cancel()
            return

        # Every slot's track is read at once; the loud one is the speaker's.
        pcm = {i: [] for i in range(len(tracks))}
        rate = 48000
        loop = asyncio.get_running_loop()
        deadline = None
        start = loop.time()

        async def read(i, track):
            nonlocal deadline, rate
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                rate = frame.sample_rate
                samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0].astype(np.float64)
                if np.abs(samples).max() > 1000:
                    pcm[i].append(samples)
                    result["frames"] += 1
                    if deadline is None:
                        deadline = loop.time() + args.seconds

        readers = [asyncio.create_task(read(i, t)) for i, t in enumerate(tracks)]
        while (deadline is None and loop.time() - start < args.timeout) or (
            deadline is not None and loop.time() < deadline
        ):
            await asyncio.sleep(0.05)
        for r in readers:
            r.cancel()
        loudest = max(pcm.values(), key=len, default=[])
        if loudest:
            result["hz"] = dominant_hz(np.concatenate(loudest), rate)
        await pc.close()
        reader.cancel()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
