#!/usr/bin/env python3
"""The bench's baseline: `| schtasksremote` written the usual way, on splunk-sdk-python.

A `StreamingCommand` that implements the same detection as the Rust core, in spirit, so
that `benches/scp` can compare the two side by side on the same SCP v2 session. splunkd
(and the bench) runs it with no arguments, which makes the SDK speak protocol v2.

What it does, like the core:
- schtasks check: `process_name`, `original_file_name` or the basename of
  `process_path` is `schtasks.exe` (case-insensitive); CIM names with or without the
  `Processes.` prefix.
- splits the command line the way Windows does (CommandLineToArgvW rules: argv[0]
  special case, backslashes before quotes, `""` inside quotes);
- switches start with `/`, `-` or a Unicode dash, are NFKC-folded and lower-cased; the
  first operation switch is the operation; value-taking switches consume the next
  argument (`/p` and `/rp` only when it is not a switch);
- a detection is `/create` with a non-empty `/s` that is neither a loopback name or
  address nor the host the command ran on (`dest`, full or short name);
- adds the same 17 output fields, the MITRE IDs and evasion markers as multivalues.

Simplifications (it is a baseline, not a second product):
- no fallback to raw Sysmon / 4688 / CrowdStrike field names, no options besides
  `action` (no risk score override, no field renaming);
- quote insertion (`/cr"ea"te`) is detected (the split removes the quotes) but not
  reported as an evasion marker; a renamed binary is reported only by comparing
  `original_file_name` with `process_name`;
- passwords are masked by replacing their text anywhere in the command line;
- IPv4 loopback is `127.*`, IPv6 loopback only `::1`; no hex/decimal IP forms.
"""

import sys
import unicodedata

from splunklib.searchcommands import Configuration, Option, StreamingCommand, dispatch, validators

DETECTION_NAME = "Schtasks scheduling job on remote system"
RISK_SCORE = 63
MITRE = ["T1053.005", "T1053"]
OUTPUT_FIELDS = [
    "detection_name",
    "detection_reason",
    "risk_score",
    "risk_message",
    "mitre_technique_id",
    "schtasks_operation",
    "remote_host",
    "remote_host_normalized",
    "task_name",
    "task_action",
    "task_schedule",
    "task_run_as",
    "task_connect_user",
    "task_xml_file",
    "task_password_supplied",
    "evasion_markers",
    "process_masked",
]
EMPTY = dict.fromkeys(OUTPUT_FIELDS, "")

OPERATIONS = {"create", "query", "run", "delete", "end", "change", "showsid"}
# Switches whose next argument is their value (schtasks /create /? and friends).
VALUE_SWITCHES = {
    "s", "u", "ru", "sc", "mo", "d", "m", "i", "tn", "tr", "st", "ri", "et", "du",
    "sd", "ed", "ec", "xml", "rl", "delay", "fo",
}
OPTIONAL_VALUE_SWITCHES = {"p", "rp"}
UNICODE_DASHES = "\u2013\u2014\u2015\ufe63"
SWITCH_CHARS = "/-" + UNICODE_DASHES
LOOPBACK = {".", "localhost", "::1", "[::1]", "0:0:0:0:0:0:0:1"}


def field(record, name):
    value = record.get(name)
    if value is None:
        value = record.get("Processes." + name)
    if isinstance(value, list):  # a multivalue field: the first value decides
        value = value[0] if value else ""
    return value or ""


def basename(path):
    return path.replace("/", "\\").rsplit("\\", 1)[-1]


def is_schtasks(record):
    for name in ("process_name", "original_file_name"):
        if field(record, name).lower() == "schtasks.exe":
            return True
    path = field(record, "process_path")
    return bool(path) and basename(path).lower() == "schtasks.exe"


def split_argv(cmd):
    """CommandLineToArgvW (post-2008 msvcrt rules)."""
    args = []
    n = len(cmd)
    i = 0
    while i < n and cmd[i] in " \t":
        i += 1
    if i < n and cmd[i] == '"':
        j = cmd.find('"', i + 1)
        if j < 0:
            args.append(cmd[i + 1:])
            i = n
        else:
            args.append(cmd[i + 1:j])
            i = j + 1
    else:
        j = i
        while j < n and cmd[j] not in " \t":
            j += 1
        args.append(cmd[i:j])
        i = j
    while True:
        while i < n and cmd[i] in " \t":
            i += 1
        if i >= n:
            break
        buf = []
        in_quotes = False
        while i < n:
            c = cmd[i]
            if c in " \t" and not in_quotes:
                break
            if c == "\\":
                k = i
                while k < n and cmd[k] == "\\":
                    k += 1
                count = k - i
                if k < n and cmd[k] == '"':
                    buf.append("\\" * (count // 2))
                    if count % 2:
                        buf.append('"')
                        i = k + 1
                    else:
                        i = k
                else:
                    buf.append("\\" * count)
                    i = k
                continue
            if c == '"':
                if in_quotes and i + 1 < n and cmd[i + 1] == '"':
                    buf.append('"')
                    i += 2
                    continue
                in_quotes = not in_quotes
                i += 1
                continue
            buf.append(c)
            i += 1
        args.append("".join(buf))
    return args


def parse_switch(arg, evasions):
    if len(arg) < 2 or arg[0] not in SWITCH_CHARS:
        return None
    if arg[0] == "-":
        evasions.add("dash_prefix")
    elif arg[0] != "/":
        evasions.add("unicode_dash")
    raw = arg[1:]
    folded = unicodedata.normalize("NFKC", raw)
    if folded != raw:
        evasions.add("nfkc_folded")
    return folded.lower()


def analyze(record):
    """The 17 output fields for a detection, or None."""
    cmd = field(record, "process")
    argv = split_argv(cmd)
    evasions = set()
    operation = None
    values = {}
    args = argv[1:]
    i = 0
    while i < len(args):
        name = parse_switch(args[i], evasions)
        i += 1
        if name is None:
            continue
        if name in OPERATIONS:
            if operation is None:
                operation = name
        elif name in VALUE_SWITCHES:
            if i < len(args):
                values.setdefault(name, args[i])
                i += 1
            else:
                values.setdefault(name, "")
        elif name in OPTIONAL_VALUE_SWITCHES:
            if i < len(args) and (not args[i] or args[i][0] not in SWITCH_CHARS):
                values.setdefault(name, args[i])
                i += 1
            else:
                values.setdefault(name, "")
    if operation != "create":
        return None
    host = values.get("s", "")
    normalized = host.lstrip("\\").rstrip(".").lower()
    if not normalized:
        return None
    if normalized in LOOPBACK or normalized.startswith("127."):
        return None
    dest = field(record, "dest").rstrip(".").lower()
    if dest and (normalized == dest or normalized.split(".", 1)[0] == dest.split(".", 1)[0]):
        return None

    masked = cmd
    for name in OPTIONAL_VALUE_SWITCHES:
        secret = values.get(name)
        if secret:
            masked = masked.replace(secret, "****")
    process_name = field(record, "process_name")
    original = field(record, "original_file_name")
    if original.lower() == "schtasks.exe" and process_name and process_name.lower() != "schtasks.exe":
        evasions.add("renamed_binary")
    message = (
        f"A schedule task process {process_name} with remote job command-line {masked} "
        f"in host {field(record, 'dest')} by {field(record, 'user')}."
    )
    return {
        "detection_name": DETECTION_NAME,
        "detection_reason": "remote_create",
        "risk_score": RISK_SCORE,
        "risk_message": message,
        "mitre_technique_id": MITRE,
        "schtasks_operation": operation,
        "remote_host": host,
        "remote_host_normalized": normalized,
        "task_name": values.get("tn", ""),
        "task_action": values.get("tr", ""),
        "task_schedule": values.get("sc", ""),
        "task_run_as": values.get("ru", ""),
        "task_connect_user": values.get("u", ""),
        "task_xml_file": values.get("xml", ""),
        "task_password_supplied": "p" in values or "rp" in values,
        "evasion_markers": sorted(evasions),
        "process_masked": masked,
    }


@Configuration()
class SchtasksRemoteCommand(StreamingCommand):
    """| schtasksremote [action=filter|annotate]"""

    action = Option(
        doc="filter (default) passes only detections; annotate passes every row",
        require=False,
        default="filter",
        validate=validators.Set("filter", "annotate"),
    )

    def stream(self, records):
        annotate = self.action == "annotate"
        for record in records:
            found = analyze(record) if is_schtasks(record) else None
            if found is not None:
                record.update(found)
                yield record
            elif annotate:
                record.update(EMPTY)
                yield record


dispatch(SchtasksRemoteCommand, sys.argv, sys.stdin, sys.stdout, __name__)
