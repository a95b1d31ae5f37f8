"""An independent WHEP player: aiortc (Python) listens to a Stoa room's mix over WHEP.

It POSTs an SDP offer with one receive-only audio m-section to the room's WHEP endpoint (with a bearer
token, or none for a room whose listen link is on), applies the answer, records what it hears for
--seconds once the first loud frame arrives, DELETEs the session, and prints one JSON line: the status of
each request, whether ICE connected, how many frames were heard, and the dominant frequency.

Usage: python whep.py --url http://127.0.0.1:PORT/api/v1/rooms/ROOM/whep [--token TOKEN] [--seconds 2] [--loopback]
"""

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from urllib.parse import urljoin

import aioice.ice
import numpy as np
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError


def request(method, url, token, body=None, content_type=None):
    req = urllib.request.Request(url, data=body.encode() if body else None, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def dominant_hz(samples, rate):
    if len(samples) < rate // 10:
        return 0.0
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    spectrum[0] = 0
    return float(np.argmax(spectrum)) * rate / len(samples)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token")
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--loopback", action="store_true", help="gather 127.0.0.1 as a host candidate")
    args = parser.parse_args()
    if args.loopback:
        aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"] if use_ipv4 else []

    result = {"status": None, "connected": False, "frames": 0, "hz": 0.0, "deleted": None}
    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="recvonly")
    tracks = []
    pc.on("track", lambda track: tracks.append(track))
    connected = asyncio.Event()

    @pc.on("iceconnectionstatechange")
    def on_ice():
        if pc.iceConnectionState in ("connected", "completed"):
            connected.set()

    await pc.setLocalDescription(await pc.createOffer())
    loop = asyncio.get_running_loop()
    status, headers, body = await loop.run_in_executor(
        None, request, "POST", args.url, args.token, pc.localDescription.sdp, "application/sdp"
    )
    result["status"] = status
    result["content_type"] = headers.get("content-type")
    if status != 201:
        result["error"] = body
        print(json.dumps(result), flush=True)
        return
    location = urljoin(args.url, headers["location"])
    await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))
    try:
        await asyncio.wait_for(connected.wait(), args.timeout)
        result["connected"] = True
    except asyncio.TimeoutError:
        pass
    if result["connected"] and tracks:
        pcm = []
        deadline = None
        start = loop.time()
        while loop.time() - start < args.timeout and (deadline is None or loop.time() < deadline):
            try:
                frame = await asyncio.wait_for(tracks[0].recv(), 1.0)
            except (asyncio.TimeoutError, MediaStreamError):
                continue
            samples = frame.to_ndarray().reshape(-1, len(frame.layout.channels))[:, 0].astype(np.float64)
            if np.abs(samples).max() > 1000:
                pcm.append(samples)
                result["frames"] += 1
                rate = frame.sample_rate
                if deadline is None:
                    deadline = loop.time() + args.seconds
        if pcm:
            result["hz"] = dominant_hz(np.concatenate(pcm), rate)
    status, _, _ = await loop.run_in_executor(None, request, "DELETE", location, args.token)
    result["deleted"] = status
    await pc.close()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
