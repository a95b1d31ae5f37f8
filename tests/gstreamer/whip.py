"""An independent WHIP publisher on GStreamer's webrtcbin (RFC 9725), in place of Debian's
simple-whip-client, whose bookworm build aborts at start: it links libsoup 2, and webrtcbin's libnice
pulls in libsoup 3 through gupnp-igd ("libsoup2 symbols detected"). This is the same stack driven the
same way: webrtcbin with an Opus tone, the offer (ICE gathered, no trickle) POSTed with a bearer token,
the answer applied.

By default it uses webrtcbin's own RSA DTLS certificate, as simple-whip-client and whipsink do (Stoa's
DTLS takes RSA client certificates since its patch of dimpl, vendor/dimpl); with --ecdsa, a P-256 one,
as browsers, OBS and aiortc make.

It publishes a sine of --hz for --seconds, then DELETEs the session (unless --no-delete), and prints one JSON line: the POST's
status and content type, the session's Location, ICE's last state, and the DELETE's status. Run it with
Debian's python3 (for its GStreamer bindings: python3-gst-1.0 and the GstWebRTC, GstSdp and Nice
typelibs).

Usage: python3 whip.py --url http://127.0.0.1:PORT/api/v1/rooms/ROOM/whip --token TOKEN [--hz 440]
       [--seconds 8] [--loopback] [--ecdsa] [--no-delete]
"""

import argparse
import hashlib
import json
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from urllib.parse import urljoin

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstWebRTC", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("Nice", "0.1")
from gi.repository import GLib, Gst, GstSdp, GstWebRTC, Nice  # noqa: E402


def request(method, url, token, body=None, content_type=None):
    req = urllib.request.Request(url, data=body.encode() if body else None, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    if content_type:
        req.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()
    except urllib.error.URLError as e:
        return 0, {}, str(e.reason)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--hz", type=float, default=440.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--ecdsa", action="store_true", help="an ECDSA DTLS certificate instead of GStreamer's RSA one")
    parser.add_argument("--no-delete", action="store_true", help="stop without the DELETE, as a crashed client does")
    parser.add_argument("--loopback", action="store_true", help="gather on 127.0.0.1 (libnice skips loopback)")
    args = parser.parse_args()

    Gst.init(None)
    pipeline = Gst.parse_launch(
        "webrtcbin name=send bundle-policy=max-bundle "
        f"audiotestsrc is-live=true wave=sine freq={args.hz} volume=0.4 ! audioconvert ! audioresample ! "
        "audio/x-raw,rate=48000,channels=1 ! opusenc ! rtpopuspay pt=111 ! "
        "application/x-rtp,media=audio,encoding-name=OPUS,payload=111 ! send."
    )
    webrtc = pipeline.get_by_name("send")
    fingerprint = None
    if args.ecdsa:
        # An ECDSA certificate, as browsers and OBS use, in place of webrtcbin's RSA one: a P-256 one is made
        # with openssl and handed to webrtcbin's DTLS decoder, and the offer's fingerprint, which webrtcbin
        # computed from its own, is replaced.
        with tempfile.TemporaryDirectory() as d:
            subprocess.run(
                ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", f"{d}/key.pem", "-out", f"{d}/cert.pem", "-days", "2", "-subj", "/CN=whip"],
                check=True, capture_output=True,
            )
            pem = open(f"{d}/cert.pem").read() + open(f"{d}/key.pem").read()
        der = ssl.PEM_cert_to_DER_cert(pem[pem.index("-----BEGIN CERTIFICATE-----"):pem.index("-----END CERTIFICATE-----") + 25])
        digest = hashlib.sha256(der).hexdigest().upper()
        fingerprint = ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))

        def on_element(_bin, _sub, element):
            if element.get_factory() and element.get_factory().get_name() == "dtlssrtpdec":
                element.set_property("pem", pem)

        pipeline.connect("deep-element-added", on_element)
    if args.loopback:
        # The tests run in a network namespace whose only interface is loopback, which libnice never
        # gathers on by itself; naming the address makes it a host candidate.
        address = Nice.Address.new()
        address.set_from_string("127.0.0.1")
        # Kept for the pipeline's life: PyGObject drops a reference too many when a wrapper of webrtcbin's
        # ice-agent goes, which frees the agent under webrtcbin.
        ice = webrtc.get_property("ice-agent")
        ice.get_property("agent").add_local_address(address)
        result_keep = [ice]  # noqa: F841
    result = {"status": None, "location": None, "ice": None, "deleted": None}
    loop = GLib.MainLoop()
    location = [None]

    def finish():
        if location[0] and not args.no_delete:
            status, _, _ = request("DELETE", location[0], args.token)
            result["deleted"] = status
        result["ice"] = webrtc.get_property("ice-connection-state").value_nick
        pipeline.set_state(Gst.State.NULL)
        loop.quit()
        return False

    def post_offer():
        # No trickle: the offer goes once ICE has gathered, with its candidates in it.
        offer = webrtc.get_property("local-description").sdp.as_text()
        if fingerprint:
            offer = re.sub(r"a=fingerprint:sha-256 [0-9A-F:]+", f"a=fingerprint:sha-256 {fingerprint}", offer)
        status, headers, body = request("POST", args.url, args.token, offer, "application/sdp")
        result["status"] = status
        result["content_type"] = headers.get("content-type")
        if status != 201:
            result["error"] = body
            GLib.idle_add(finish)
            return
        location[0] = urljoin(args.url, headers["location"])
        result["location"] = headers["location"]
        _, sdp = GstSdp.SDPMessage.new_from_text(body)
        answer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.ANSWER, sdp)
        webrtc.emit("set-remote-description", answer, Gst.Promise.new())
        GLib.timeout_add(int(args.seconds * 1000), finish)

    def on_gathering(element, _pspec):
        if element.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            threading.Thread(target=lambda: GLib.idle_add(post_offer), daemon=True).start()

    def on_offer(promise, _data):
        # The reply is held while its offer is read (a temporary's structure is freed under the read).
        reply = promise.get_reply()
        offer = reply["offer"]
        webrtc.emit("set-local-description", offer, Gst.Promise.new())

    def on_negotiation_needed(element):
        element.emit("create-offer", None, Gst.Promise.new_with_change_func(on_offer, None))

    webrtc.connect("on-negotiation-needed", on_negotiation_needed)
    webrtc.connect("notify::ice-gathering-state", on_gathering)
    pipeline.set_state(Gst.State.PLAYING)
    GLib.timeout_add(int((args.seconds + 30) * 1000), finish)
    loop.run()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
    sys.exit(0)
