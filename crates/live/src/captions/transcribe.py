#!/usr/bin/python3
"""An OpenAI-compatible transcription server around Debian's pocketsphinx: Stoa's local caption engine
(`stoa serve --captions-local` runs it as a child process, with the general model), and the engine the
caption tests and figures stand up. POST /v1/audio/transcriptions takes a multipart form with a WAV `file` (16-bit PCM, mono or stereo,
any rate that divides down to 16 kHz or is resampled to it) and answers {"text": "..."}, as whisper.cpp's
server, faster-whisper servers and hosted services do.

    transcribe.py [--vocabulary digits|shapes] [--port 0]

It prints `listening on http://127.0.0.1:PORT` once it is ready. `--vocabulary digits` constrains the
recognizer to the spoken digits (zero to nine, and "oh"), `--vocabulary shapes` to pairs of a colour and a
shape ("green square blue triangle"), the one it follows best on espeak-ng's voice (scripts/caption-accuracy
has the figures); without either it uses pocketsphinx-en-us's general language model.
"""
import argparse
import email.parser
import email.policy
import io
import json
import os
import sys
import tempfile
import threading
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pocketsphinx import Decoder, get_model_path

DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "oh"]
# A colour and a shape, again and again: a sentence grammar pocketsphinx follows far better than free digits.
SHAPES = """#JSGF V1.0;
grammar shapes;
public <shapes> = ( <colour> <shape> )+ ;
<colour> = red | green | blue | yellow | purple | orange ;
<shape> = circle | square | triangle | star | heart | diamond ;
"""
MAX_BODY = 16 * 1024 * 1024


def decoder(vocabulary):
    model = get_model_path()
    config = Decoder.default_config()
    config.set_string("-hmm", os.path.join(model, "en-us"))
    config.set_string("-dict", os.path.join(model, "cmudict-en-us.dict"))
    config.set_string("-logfn", os.devnull)
    if vocabulary in ("digits", "shapes"):
        grammar = tempfile.NamedTemporaryFile("w", suffix=".gram", delete=False)
        if vocabulary == "digits":
            grammar.write("#JSGF V1.0;\ngrammar digits;\npublic <digits> = ( %s )+ ;\n" % " | ".join(DIGITS))
        else:
            grammar.write(SHAPES)
        grammar.close()
        config.set_string("-jsgf", grammar.name)
    else:
        config.set_string("-lm", os.path.join(model, "en-us.lm.bin"))
    return Decoder(config)


def pcm16k(data):
    """16 kHz mono 16-bit samples (bytes) from a WAV file's bytes."""
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2:
            raise ValueError("the WAV file must be 16-bit PCM")
        rate, channels, frames = w.getframerate(), w.getnchannels(), w.readframes(w.getnframes())
    samples = memoryview(frames).cast("h")
    if channels > 1:
        samples = [sum(samples[i:i + channels]) // channels for i in range(0, len(samples), channels)]
    if rate == 16000:
        out = list(samples)
    elif rate % 16000 == 0:
        k = rate // 16000
        out = [sum(samples[i:i + k]) // k for i in range(0, len(samples) - k + 1, k)]
    else:
        n = int(len(samples) * 16000 / rate)
        out = []
        for j in range(n):
            x = j * rate / 16000
            i = int(x)
            b = samples[min(i + 1, len(samples) - 1)]
            out.append(int(samples[i] + (b - samples[i]) * (x - i)))
    return b"".join(max(-32768, min(32767, s)).to_bytes(2, "little", signed=True) for s in out)


def transcribe(dec, lock, data):
    pcm = pcm16k(data)
    with lock:
        dec.start_utt()
        dec.process_raw(pcm, False, True)
        dec.end_utt()
        hyp = dec.hyp()
    return hyp.hypstr if hyp else ""


def serve(args):
    dec, lock = decoder(args.vocabulary), threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def reply(self, status, body):
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self):
            if self.path.split("?")[0] != "/v1/audio/transcriptions":
                return self.reply(404, {"error": {"message": "no such path"}})
            length = int(self.headers.get("content-length") or 0)
            if length <= 0 or length > MAX_BODY:
                return self.reply(400, {"error": {"message": "a body of at most 16 MiB is needed"}})
            body = self.rfile.read(length)
            head = "content-type: %s\r\n\r\n" % self.headers.get("content-type", "")
            form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head.encode() + body)
            files = [p for p in form.iter_parts() if p.get_param("name", header="content-disposition") == "file"]
            if not files:
                return self.reply(400, {"error": {"message": "the form has no `file`"}})
            try:
                text = transcribe(dec, lock, files[0].get_payload(decode=True))
            except (ValueError, wave.Error, EOFError) as e:
                return self.reply(400, {"error": {"message": str(e)}})
            self.reply(200, {"text": text})

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening on http://127.0.0.1:%d" % server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--vocabulary", choices=["digits", "shapes", "general"], default="general")
    p.add_argument("--port", type=int, default=0)
    serve(p.parse_args())
