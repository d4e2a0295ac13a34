//! A synthetic but realistic SCP v2 session: what splunkd sends `| schtasksremote` after
//! `| tstats … from datamodel=Endpoint.Processes … | drop_dm_object_name(Processes)`.
//!
//! Deterministic (fixed seed), so every contender and every run sees the same bytes.
//! The CSV is written the way splunkd writes it (§1.4 of the protocol reference): LF
//! row ends, every non-empty value with a character outside `[A-Za-z0-9]` quoted,
//! plain fields first, then one empty `__mv_` column per field.

use std::fmt::Write as _;

/// The fields of every row, in splunkd's order. `_raw` is last and padded so that
/// the average row is [`TARGET_ROW_BYTES`] long.
pub const FIELDS: [&str; 11] = [
    "_time",
    "dest",
    "user",
    "parent_process_name",
    "parent_process",
    "process_name",
    "original_file_name",
    "process",
    "process_path",
    "process_id",
    "_raw",
];

/// `_raw` pads rows shorter than this; the CIM fields alone (realistic paths and command
/// lines) average about 265 bytes, so a row averages about 290 bytes and 120,000 rows
/// about 35 MB.
pub const TARGET_ROW_BYTES: usize = 250;

/// xorshift64*: small, fast, deterministic; statistical quality is irrelevant here.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// What the generator put in a body, to check the contenders' answers against.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mix {
    pub rows: usize,
    pub schtasks: usize,
    /// Rows that are `schtasks /create` with a remote `/s` (the expected detections).
    pub remote_creates: usize,
}

impl std::ops::AddAssign for Mix {
    fn add_assign(&mut self, other: Mix) {
        self.rows += other.rows;
        self.schtasks += other.schtasks;
        self.remote_creates += other.remote_creates;
    }
}

// (image path, process name, command-line template). `{n}` becomes a number.
const OTHER: &[(&str, &str, &str)] = &[
    (
        r"C:\Windows\System32\svchost.exe",
        "svchost.exe",
        r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
    ),
    (
        r"C:\Windows\System32\svchost.exe",
        "svchost.exe",
        r"C:\Windows\System32\svchost.exe -k LocalServiceNetworkRestricted -p",
    ),
    (
        r"C:\Windows\System32\conhost.exe",
        "conhost.exe",
        r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
    ),
    (
        r"C:\Windows\System32\cmd.exe",
        "cmd.exe",
        r#"C:\Windows\system32\cmd.exe /s /c "dir /s /b C:\Users\{u}\Documents > C:\Temp\list{n}.txt""#,
    ),
    (
        r"C:\Windows\System32\cmd.exe",
        "cmd.exe",
        r#""C:\Windows\system32\cmd.exe" /c echo create /s HOST{n} > nul"#,
    ),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "powershell.exe",
        r#"powershell.exe -NoProfile -ExecutionPolicy Bypass -File "C:\ProgramData\scripts\inventory{n}.ps1""#,
    ),
    (
        r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        "chrome.exe",
        r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --renderer-client-id={n}"#,
    ),
    (
        r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        "msedge.exe",
        r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=utility --utility-sub-type=network.mojom.NetworkService"#,
    ),
    (
        r"C:\Windows\System32\wbem\WmiPrvSE.exe",
        "WmiPrvSE.exe",
        r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
    ),
    (
        r"C:\Windows\System32\rundll32.exe",
        "rundll32.exe",
        r"C:\Windows\system32\rundll32.exe C:\Windows\system32\shell32.dll,SHCreateLocalServerRunDll {n}",
    ),
    (
        r"C:\Windows\System32\taskhostw.exe",
        "taskhostw.exe",
        r"taskhostw.exe /RuntimeWide",
    ),
    (
        r"C:\Windows\System32\reg.exe",
        "reg.exe",
        r#"reg.exe add "HKCU\Software\Vendor\App{n}" /v Enabled /t REG_DWORD /d 1 /f"#,
    ),
    (
        r"C:\Windows\System32\sc.exe",
        "sc.exe",
        r#"sc.exe create Svc{n} binPath= "C:\Program Files\Vendor\svc.exe" start= auto"#,
    ),
    (
        r"C:\Program Files\Git\cmd\git.exe",
        "git.exe",
        r"git.exe fetch --prune origin refs/heads/feature-{n}",
    ),
    (
        r"C:\Windows\System32\SearchProtocolHost.exe",
        "SearchProtocolHost.exe",
        r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe{n} 1"#,
    ),
    (
        r"C:\Windows\System32\backgroundTaskHost.exe",
        "backgroundTaskHost.exe",
        r#""C:\Windows\system32\backgroundTaskHost.exe" -ServerName:App.AppXmtcan0h2tfbfy7k9kn8hbxb6dmzz1zh0.mca"#,
    ),
];

const PARENTS: &[(&str, &str)] = &[
    (r"C:\Windows\System32\services.exe", "services.exe"),
    (r"C:\Windows\explorer.exe", "explorer.exe"),
    (r"C:\Windows\System32\cmd.exe", "cmd.exe"),
    (
        r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        "powershell.exe",
    ),
    (r"C:\Windows\System32\svchost.exe", "svchost.exe"),
];

const SCHTASKS_PATH: &str = r"C:\Windows\System32\schtasks.exe";

/// The schtasks mix: (weight in percent, remote create?, template).
/// `{h}` is a remote host, `{n}` a number, `{u}` a user.
const SCHTASKS: &[(u32, bool, &str)] = &[
    (
        14,
        true,
        r#"schtasks.exe /create /s {h} /tn "Updater{n}" /tr "C:\Windows\Temp\upd{n}.exe" /sc once /st 23:59 /ru SYSTEM /f"#,
    ),
    (
        8,
        true,
        r#"schtasks  /Create /S \\{h} /U CORP\{u} /P Winter2024! /TN \Microsoft\Windows\Maint{n} /TR "powershell -w hidden -enc SQBFAFgA" /SC ONSTART /RU SYSTEM"#,
    ),
    (
        5,
        true,
        r#"SCHTASKS /CREATE /TN backup{n} /XML C:\Windows\Temp\t{n}.xml /S 10.20.{n}.7 /F"#,
    ),
    (
        4,
        true,
        r#"schtasks -create -s {h} -tn job{n} -tr c:\x{n}.exe -sc daily -st 02:00"#,
    ),
    (
        4,
        true,
        r#"schtasks.exe /create /sc minute /mo 30 /tn "Sync {n}" /tr "cmd.exe /c copy \\{h}\share\a.exe C:\a.exe" /s {h}"#,
    ),
    (
        25,
        false,
        r#"schtasks.exe /create /tn "GoogleUpdateTaskMachineUA{n}" /tr "C:\Program Files (x86)\Google\Update\GoogleUpdate.exe /ua /installsource scheduler" /sc daily /st 09:{n2}"#,
    ),
    (
        6,
        false,
        r#"schtasks /create /tn t{n} /tr "shutdown /s /t 0" /sc once /st 18:00"#,
    ),
    (
        5,
        false,
        r#"schtasks.exe /create /s localhost /tn AtomicTask{n} /tr c:\windows\system32\calc.exe /sc once /st 12:00"#,
    ),
    (
        3,
        false,
        r#"schtasks /create /S 127.0.0.1 /TN local{n} /TR notepad.exe /SC ONLOGON"#,
    ),
    (15, false, r#"schtasks.exe /query /fo CSV /nh /s {h}"#),
    (
        6,
        false,
        r#"schtasks /query /tn "\Microsoft\Windows\Defrag\ScheduledDefrag""#,
    ),
    (3, false, r#"schtasks /run /s {h} /tn Updater{n}"#),
    (2, false, r#"schtasks /delete /tn Updater{n} /f"#),
];

/// Appends `value` as splunkd would write it.
fn push_field(out: &mut Vec<u8>, value: &str) {
    if value.is_empty() || value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    out.push(b'"');
    for b in value.bytes() {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    out.push(b'"');
}

/// The CSV header row, splunkd style.
pub fn header() -> Vec<u8> {
    let mut out = Vec::new();
    let names = FIELDS
        .iter()
        .map(|f| f.to_string())
        .chain(FIELDS.iter().map(|f| format!("__mv_{f}")));
    for (i, name) in names.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_field(&mut out, &name);
    }
    out.push(b'\n');
    out
}

fn fill(template: &str, rng: &mut Rng, host: &str, user: &str) -> String {
    let n = rng.below(250).to_string();
    let n2 = format!("{:02}", rng.below(60));
    template
        .replace("{n2}", &n2)
        .replace("{n}", &n)
        .replace("{h}", host)
        .replace("{u}", user)
}

/// A CSV body (header plus `rows` rows, row numbers starting at `first`), and its mix.
/// About 2% of the rows are schtasks, in the mix of [`SCHTASKS`].
pub fn body(first: usize, rows: usize, seed: u64) -> (Vec<u8>, Mix) {
    let mut rng = Rng::new(seed ^ (first as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut out = header();
    out.reserve(rows * (TARGET_ROW_BYTES + 16));
    let mut mix = Mix {
        rows,
        ..Mix::default()
    };
    let mut line = Vec::with_capacity(1024);
    let mut raw = String::with_capacity(512);
    for row in first..first + rows {
        line.clear();
        let host_n = rng.below(400);
        let dest = format!("WKS-{host_n:04}");
        let user_name = format!("user{}", rng.below(900));
        let user = format!("CORP\\{user_name}");
        let target = format!("SRV-{:03}", rng.below(120));
        let (parent_path, parent_name) = PARENTS[rng.below(PARENTS.len())];
        let (path, name, cmd, remote) = if rng.below(100) < 2 {
            mix.schtasks += 1;
            let mut roll = rng.below(100) as u32;
            let mut chosen = SCHTASKS[0];
            for entry in SCHTASKS {
                if roll < entry.0 {
                    chosen = *entry;
                    break;
                }
                roll -= entry.0;
            }
            let image = if rng.below(10) == 0 {
                "SCHTASKS.EXE"
            } else {
                "schtasks.exe"
            };
            (
                SCHTASKS_PATH,
                image,
                fill(chosen.2, &mut rng, &target, &user_name),
                chosen.1,
            )
        } else {
            let (path, name, template) = OTHER[rng.below(OTHER.len())];
            (
                path,
                name,
                fill(template, &mut rng, &target, &user_name),
                false,
            )
        };
        if remote {
            mix.remote_creates += 1;
        }
        // Unique per row: the checks identify rows by `_time`.
        let time = format!("{}.{:03}", 1_700_000_000 + row / 1000, row % 1000);
        let pid = (1000 + rng.below(60_000)).to_string();
        let values = [
            time.as_str(),
            dest.as_str(),
            user.as_str(),
            parent_name,
            parent_path,
            name,
            name,
            cmd.as_str(),
            path,
            pid.as_str(),
        ];
        for v in values {
            push_field(&mut line, v);
            line.push(b',');
        }
        // `_raw`: a Sysmon-like key=value rendering, padded to the target row length.
        raw.clear();
        let _ = write!(
            raw,
            "EventCode=1 Computer={dest} User={user} ProcessId={pid} Image={path} CommandLine={cmd} \
             ParentImage={parent_path} IntegrityLevel=Medium Hashes=SHA256=9F4E1C0A7B3D2E65F08A1C4B7D2E9F30"
        );
        let used = line.len() + 3 + FIELDS.len() + 1;
        let want = TARGET_ROW_BYTES.saturating_sub(used).max(24).min(raw.len());
        let mut cut = want;
        while !raw.is_char_boundary(cut) {
            cut -= 1;
        }
        push_field(&mut line, &raw[..cut]);
        // One empty `__mv_` value per field, then the row end.
        line.resize(line.len() + FIELDS.len(), b',');
        line.push(b'\n');
        out.extend_from_slice(&line);
    }
    (out, mix)
}

/// A framed chunk: `chunked 1.0,<meta bytes>,<body bytes>\n<meta><body>`.
pub fn frame(meta: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!("chunked 1.0,{},{}\n", meta.len(), body.len()).into_bytes();
    out.extend_from_slice(meta.as_bytes());
    out.extend_from_slice(body);
    out
}

/// The getinfo chunk splunkd 9.x sends, with our arguments in `searchinfo.args`.
pub fn getinfo(args: &[&str], dispatch_dir: &str) -> Vec<u8> {
    let args = serde_json::to_string(args).expect("strings serialise");
    let dispatch_dir = serde_json::to_string(dispatch_dir).expect("strings serialise");
    let meta = format!(
        concat!(
            r#"{{"action":"getinfo","preview":false,"streaming_command_will_restart":false,"#,
            r#""searchinfo":{{"args":{args},"raw_args":{args},"dispatch_dir":{dir},"#,
            r#""sid":"1700000000.42","app":"search","owner":"admin","username":"admin","#,
            r#""session_key":"bench-session-key","splunkd_uri":"https://127.0.0.1:8089","#,
            r#""splunk_version":"9.1.2","search":"{search}","command":"schtasksremote","#,
            r#""maxresultrows":50000,"earliest_time":"0","latest_time":"0"}}}}"#
        ),
        args = args,
        dir = dispatch_dir,
        search = "%7C%20tstats%20summariesonly%3Dfalse%20count%20from%20datamodel%3DEndpoint.Processes%20by%20Processes.dest%20Processes.process%20%7C%20schtasksremote",
    );
    frame(&meta, b"")
}

/// An execute chunk.
pub fn execute(body: &[u8], finished: bool) -> Vec<u8> {
    let meta = if finished {
        r#"{"action":"execute","finished":true}"#
    } else {
        r#"{"action":"execute","finished":false}"#
    };
    frame(meta, body)
}
