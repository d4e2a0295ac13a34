#!/usr/bin/env python3
"""Builds the seed corpora in fuzz/corpus/<target>/ from ../shared/ (the SCP vectors
and the replay datasets), from the detection spec table and from examples/. The seeds
are derived, never committed: ../shared/ stays the one copy of that data."""

import gzip
import hashlib
import io
import json
import pathlib
import re
import tarfile
import zipfile
from xml.sax.saxutils import escape

FUZZ = pathlib.Path(__file__).resolve().parent
REPO = FUZZ.parent
SHARED = REPO.parent / "shared"
VECTORS = SHARED / "scp-vectors"
DATASETS = SHARED / "datasets"
MAX_SEED = 16 * 1024


def save(target, data):
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    folder = FUZZ / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def chunks(stream):
    """(metadata, body) of each chunk of a recorded splunkd stream."""
    out, at = [], 0
    while at < len(stream):
        nl = stream.find(b"\n", at)
        if nl < 0:
            break
        header = stream[at:nl].strip()
        at = nl + 1
        if not header:
            continue
        m = re.fullmatch(rb"chunked 1\.0,(\d+),(\d+)", header)
        if not m:
            break
        mlen, blen = int(m[1]), int(m[2])
        out.append((stream[at:at + mlen], stream[at + mlen:at + mlen + blen]))
        at += mlen + blen
    return out


def chunk(meta, body):
    return b"chunked 1.0,%d,%d\n" % (len(meta), len(body)) + meta + body


def cut(body, limit=4096):
    """The first rows of a CSV body, cut at a line end (quoted newlines may split a
    row: that is a seed too)."""
    if len(body) <= limit:
        return body
    nl = body.rfind(b"\n", 0, limit)
    return body[: nl + 1] if nl > 0 else body[:limit]


def process_events():
    """Process-creation events of the datasets as CIM-ish dicts."""
    events = []
    with open(DATASETS / "derived" / "schtasks_related_events.jsonl", encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            if e.get("CommandLine"):
                events.append(e)
    return events


def getinfo(args):
    meta = {"action": "getinfo", "preview": False,
            "searchinfo": {"args": args, "command": "schtasksremote", "splunk_version": "8.2.1"}}
    return json.dumps(meta, separators=(",", ":")).encode()


def execute(finished):
    return b'{"action":"execute","finished":%s}' % (b"true" if finished else b"false")


def csv_body(events):
    buf = io.StringIO()
    import csv
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["_time", "dest", "user", "process_name", "process", "__mv_process", "_raw"])
    for e in events:
        w.writerow([e.get("time", ""), e.get("Computer", ""), e.get("User", ""),
                    e.get("Image", "").rsplit("\\", 1)[-1], e["CommandLine"], "",
                    json.dumps(e)[:300]])
    return buf.getvalue().encode()


def scp_seeds(events):
    bodies = []
    for path in sorted(VECTORS.rglob("*.gz")):
        if "TestInternals" in path.name or path.name.startswith("v1_"):
            continue
        stream = gzip.decompress(path.read_bytes())
        if len(stream) <= MAX_SEED:
            save("scp_stream", stream)
        parts = chunks(stream)
        rebuilt = b"".join(chunk(m, cut(b, 2048)) for m, b in parts[:3])
        save("scp_stream", rebuilt)
        bodies += [cut(b) for _, b in parts if b]
    body = csv_body(events[:12])
    bodies.append(body)
    for args in (["action=annotate"], ["action=filter"], ["action=annotate", "process_field=cmd"]):
        save("scp_stream", chunk(getinfo(args), b"") + chunk(execute(False), body)
             + chunk(execute(True), b""))
    for b in bodies:
        save("scp_body", b"\x00" + b)
        save("scp_body", b"\x01" + b)


def cmdline_seeds(events):
    spec = (REPO / "tests" / "detection_cases" / "mod.rs").read_text(encoding="utf-8")
    lines = re.findall(r'line:\s*r#"(.*?)"#', spec, flags=re.S)
    lines += [e["CommandLine"] for e in events]
    for i, line in enumerate(dict.fromkeys(lines)):
        save("cmdline", bytes([i % 16]) + line.encode("utf-8"))


def xml_record(e):
    data = "".join(
        f"<Data Name='{k}'>{escape(str(e[k]))}</Data>"
        for k in ("Image", "OriginalFileName", "CommandLine", "ParentImage", "User")
        if k in e
    )
    return (
        "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System>"
        f"<Provider Name='Microsoft-Windows-Sysmon'/><EventID>{e.get('EventID', 1)}</EventID>"
        f"<Computer>{escape(e.get('Computer', ''))}</Computer></System>"
        f"<EventData>{data}</EventData></Event>\n"
    )


def reader_seeds(events):
    sample = (REPO / "examples" / "schtasks_sample.xml").read_text(encoding="utf-8")
    save("xml_reader", sample)
    save("fast_path", sample)
    for i in range(0, len(events), 3):
        save("xml_reader", "".join(xml_record(e) for e in events[i:i + 3]))
        save("fast_path", "".join(xml_record(e) for e in events[i:i + 3]))

    lines = []
    for path in sorted((DATASETS / "OTRF_Security-Datasets").rglob("*.zip")):
        with zipfile.ZipFile(path) as z:
            for name in z.namelist():
                text = z.read(name).decode("utf-8", "replace").splitlines()
                lines += [l for l in text if "CommandLine" in l or "ProcessRollup" in l][:20]
    with tarfile.open(DATASETS / "splunk_attack_data" / "datasets" / "attack_techniques"
                      / "T1053.005" / "atomic_red_team" / "attack_data.tar.gz") as tar:
        for member in tar:
            f = tar.extractfile(member)
            if f is None:
                continue
            for n, line in enumerate(f):
                if b"schtasks" in line.lower():
                    lines.append(line.decode("utf-8", "replace").rstrip("\n"))
                if len(lines) > 80 or n > 20000:
                    break
    for i in range(0, len(lines), 3):
        seed = "\n".join(lines[i:i + 3]) + "\n"
        if len(seed) <= MAX_SEED:
            save("jsonl_reader", seed)
            save("fast_path", seed)


def main():
    events = process_events()
    scp_seeds(events)
    cmdline_seeds(events)
    reader_seeds(events)
    for folder in sorted((FUZZ / "corpus").iterdir()):
        print(f"{folder.name}: {len(list(folder.iterdir()))} seeds")


if __name__ == "__main__":
    main()
