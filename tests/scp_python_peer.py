"""The Splunk Python SDK as the protocol peer of `schtasksremote` (run by
tests/scp_python_peer.rs with the interpreter in SCHTASKSREMOTE_PYTHON).

Plays splunkd: starts the binary, sends requests one at a time and reads each reply
with the SDK's own chunk reader (`SearchCommand._read_chunk`, the regex header parser and
exact-length reads) and its own CSV/multivalue record reader (`_read_csv_records`).

usage: scp_python_peer.py <binary> <recording.gz> <case.json>
case.json: {"args": [...], "body": "<csv>", "expect": {"field": "value" or [values]}}
"""

import gzip
import io
import json
import re
import subprocess
import sys

from splunklib.searchcommands import StreamingCommand
from splunklib.searchcommands.search_command import SearchCommand


class Peer(StreamingCommand):
    """Only used for its record reader."""

    def stream(self, records):
        return records


PEER = Peer()
HEADER = re.compile(rb"chunked 1\.0,(\d+),(\d+)\n")


def chunk(metadata, body=b""):
    meta = json.dumps(metadata, separators=(",", ":")).encode()
    return b"chunked 1.0,%d,%d\n" % (len(meta), len(body)) + meta + body


def split_recording(data):
    """The execute chunks of a raw splunkd recording, as bytes."""
    chunks, pos = [], 0
    while pos < len(data):
        m = HEADER.match(data, pos)
        assert m, f"bad header at {pos}"
        ml, bl = int(m.group(1)), int(m.group(2))
        start = m.end()
        meta = json.loads(data[start:start + ml])
        if meta.get("action") == "execute":
            chunks.append((meta, data[start + ml:start + ml + bl]))
        pos = start + ml + bl
    return chunks


def getinfo(args):
    return chunk({
        "action": "getinfo", "preview": False, "streaming_command_will_restart": False,
        "searchinfo": {"args": args, "raw_args": args, "dispatch_dir": "/tmp", "sid": "1.1",
                       "app": "search", "owner": "admin", "username": "admin",
                       "session_key": "k", "splunkd_uri": "https://127.0.0.1:8089",
                       "splunk_version": "9.3.1", "search": "%7C%20schtasksremote",
                       "command": "schtasksremote", "maxresultrows": 50000,
                       "earliest_time": "0", "latest_time": "0"}})


class Session:
    def __init__(self, binary, args):
        self.proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.reply_to(getinfo(args))

    def reply_to(self, request):
        """Sends one request and reads exactly one reply with the SDK's reader."""
        self.proc.stdin.write(request)
        self.proc.stdin.flush()
        result = SearchCommand._read_chunk(self.proc.stdout)
        assert result is not None, "no reply"
        self.last = result
        return result

    def close(self):
        self.proc.stdin.close()
        rest = self.proc.stdout.read()
        assert rest == b"", f"bytes after the last reply: {rest[:80]!r}"
        return self.proc.wait()


def records(body):
    return list(PEER._read_csv_records(io.StringIO(body)))


def check_recording(binary, path):
    requests = split_recording(gzip.open(path).read())
    session = Session(binary, ["action=annotate"])
    meta, body = session.last
    assert meta.type == "streaming" and body == "", meta
    rows = 0
    for request_meta, request_body in requests:
        meta, body = session.reply_to(chunk(request_meta, request_body))
        assert meta.finished == request_meta["finished"], (meta, request_meta)
        inputs = records(request_body.decode("utf-8"))
        outputs = records(body)
        assert len(outputs) == len(inputs), (len(outputs), len(inputs))
        for i, (inp, out) in enumerate(zip(inputs, outputs)):
            for key, value in inp.items():
                assert out[key] == value, (i, key, out[key], value)
            added = set(out) - set(inp)
            assert added and all(out[k] == "" for k in added), (i, out)
        metric = getattr(meta.inspector, "metric.schtasksremote.rows")
        assert metric[2] == metric[3] == len(inputs), metric
        rows += len(inputs)
    assert session.close() == 0
    return len(requests), rows


def check_case(binary, case):
    session = Session(binary, case["args"])
    meta, body = session.reply_to(chunk({"action": "execute", "finished": True},
                                        case["body"].encode("utf-8")))
    assert meta.finished is True
    out = records(body)
    assert len(out) == 1, out
    for key, value in case["expect"].items():
        assert out[0].get(key) == value, (key, out[0].get(key), value)
    assert session.close() == 0


def check_bad_option(binary):
    proc = subprocess.Popen([binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    out, _ = proc.communicate(getinfo(["action=bogus"]))
    meta, body = SearchCommand._read_chunk(io.BytesIO(out))
    assert meta.finished is True and body == ""
    assert meta.inspector.messages == [["ERROR", meta.error]], meta
    assert "action=filter" in meta.error
    assert proc.returncode == 1


def main():
    binary, path, case_path = sys.argv[1:4]
    chunks, rows = check_recording(binary, path)
    with open(case_path, encoding="utf-8") as f:
        check_case(binary, json.load(f))
    check_bad_option(binary)
    print(f"ok: {chunks} chunks, {rows} rows read back by splunk-sdk")


if __name__ == "__main__":
    main()
