//! End to end in filter mode (the default): real schtasks events from
//! `../shared/datasets/derived/schtasks_related_events.jsonl` among 50,000 rows, once
//! under their raw Sysmon/4688 names and once under CIM `Processes.` names. The rows
//! that come back, and the fields added to them, are exactly what the detection core
//! says about each row through the same field mapping. Since issue 13 the raw rows'
//! Security 4698/4702 are judged too (the target side), by the same library calls.

mod scp_support;

use csv::ByteRecord;
use schtasksremote::cim::{CimField, EventField, FieldPlan, TargetPlan};
use schtasksremote::detection::task::{analyze_task, TaskEventId};
use schtasksremote::detection::{analyze, Analysis, DetectorConfig, FieldValue, OUTPUT_FIELDS};
use scp_support::*;

const ROWS: usize = 50_000;

/// 50,000 rows: the real events spread among ordinary process events.
fn body(names: &[String], events: &[Vec<String>], noise: impl Fn(usize) -> Vec<String>) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
    w.write_record(names).unwrap();
    let every = ROWS / events.len();
    for i in 0..ROWS {
        match events.get(i / every).filter(|_| i % every == every / 2) {
            Some(event) => w.write_record(event).unwrap(),
            None => w.write_record(noise(i)).unwrap(),
        }
    }
    w.into_inner().unwrap()
}

/// The core's verdict on each data row of a body: the added cells (plain, mv) or None.
fn expected(body: &[u8]) -> Vec<Option<Vec<(String, String)>>> {
    let recs = records(body);
    let names: Vec<&str> = recs[0]
        .iter()
        .map(|n| std::str::from_utf8(n).unwrap())
        .collect();
    let plan = FieldPlan::from_names(names.iter().copied());
    let target = TargetPlan::from_names(names.iter().copied());
    recs[1..]
        .iter()
        .map(|r| {
            let get = |i: usize| r.get(i).map(|v| std::str::from_utf8(v).unwrap());
            let event = plan.map(get);
            let config = DetectorConfig::default();
            let task = |id: TaskEventId| -> Analysis {
                let dest = event.get(CimField::Dest);
                let user = event.get(CimField::User);
                analyze_task(&target.task_event(id, dest, user, get), &config)
            };
            let analysis = analyze(&event.as_event(), &config).or_else(|| {
                plan.event_field(EventField::EventId, get)
                    .and_then(TaskEventId::from_event_id)
                    .map(task)
            })?;
            analysis.is_detection().then(|| {
                analysis
                    .fields()
                    .iter()
                    .map(|(_, v)| match v {
                        FieldValue::Empty => (String::new(), String::new()),
                        FieldValue::One(s) => (s.to_string(), String::new()),
                        FieldValue::Many(l) if l.len() == 1 => (l[0].to_string(), String::new()),
                        FieldValue::Many(l) => (
                            l.join("\n"),
                            l.iter()
                                .map(|v| format!("${}$", v.replace('$', "$$")))
                                .collect::<Vec<_>>()
                                .join(";"),
                        ),
                    })
                    .collect()
            })
        })
        .collect()
}

fn check(request: &[u8], reply: &Reply) -> usize {
    let input = records(request);
    let width = input[0].len();
    let verdicts = expected(request);
    let wanted: Vec<(&ByteRecord, &Vec<(String, String)>)> = input[1..]
        .iter()
        .zip(&verdicts)
        .filter_map(|(r, v)| v.as_ref().map(|v| (r, v)))
        .collect();
    let output = reply.records();
    assert_eq!(
        output.len().saturating_sub(1),
        wanted.len(),
        "detections only"
    );
    let n = OUTPUT_FIELDS.len();
    for (out, (inp, cells)) in output.iter().skip(1).zip(&wanted) {
        let fields: Vec<&[u8]> = out.iter().collect();
        assert_eq!(&fields[..width], &inp.iter().collect::<Vec<_>>()[..]);
        for (k, (plain, mv)) in cells.iter().enumerate() {
            assert_eq!(fields[width + k], plain.as_bytes(), "{}", OUTPUT_FIELDS[k]);
            assert_eq!(
                fields[width + n + k],
                mv.as_bytes(),
                "__mv_{}",
                OUTPUT_FIELDS[k]
            );
        }
    }
    assert_eq!(
        reply.metric("schtasksremote.rows")[2..],
        [ROWS as f64, wanted.len() as f64]
    );
    assert_eq!(
        reply.metric("schtasksremote.detections")[3],
        wanted.len() as f64
    );
    wanted.len()
}

#[test]
fn filter_mode_passes_exactly_the_cores_detections_on_raw_and_cim_names() {
    let (names, events) = schtasks_events();
    let col = |n: &str| names.iter().position(|x| x == n).unwrap();
    let (image, cmd, host) = (col("Image"), col("CommandLine"), col("Computer"));
    let raw_noise = |i: usize| {
        let mut row = vec![String::new(); names.len()];
        row[image] = format!(r"C:\Windows\System32\svc{}.exe", i % 97);
        row[cmd] = format!("svc{} -k netsvcs /s {}", i % 97, i);
        row[host] = "ws-7".to_string();
        row
    };
    let raw = body(&names, &events, raw_noise);

    // The same events under CIM names, mapped by the one field mapping.
    let plan = FieldPlan::from_names(names.iter().map(String::as_str));
    let cim_names: Vec<String> = CimField::ALL
        .iter()
        .map(|f| format!("Processes.{}", f.name()))
        .chain(["_time".to_string()])
        .collect();
    let cim_events: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            let mapped = plan.map(|i| e.get(i).map(String::as_str));
            CimField::ALL
                .iter()
                .map(|f| mapped.get(*f).to_string())
                .chain(["1606348800".to_string()])
                .collect()
        })
        .collect();
    let cim = body(&cim_names, &cim_events, |i| {
        vec![
            "svchost.exe".into(),
            r"C:\Windows\System32\svchost.exe".into(),
            String::new(),
            format!("svchost.exe -k netsvcs /s {i}"),
            "services.exe".into(),
            "ws-7".into(),
            "NT AUTHORITY\\SYSTEM".into(),
            "1606348800".into(),
        ]
    });

    let mut stream = getinfo(&[]);
    stream.extend_from_slice(&execute(false, &raw));
    stream.extend_from_slice(&execute(true, &cim));
    let run = run(&stream);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let replies = run.replies();
    assert_eq!(replies.len(), 3);
    assert_eq!(
        (replies[1].finished(), replies[2].finished()),
        (Some(false), Some(true))
    );
    let raw_hits = check(&raw, &replies[1]);
    let cim_hits = check(&cim, &replies[2]);
    // The dataset holds two true remote creations (OTRF schtask_create: /S WORKSTATION6),
    // and under raw names the target side's 4698 and 4702 whose RPC fields are both 0
    // (OTRF schtask_create, schtask_modification); CIM Processes rows cannot carry those.
    assert_eq!(cim_hits, 2, "{cim_hits}");
    assert_eq!(
        raw_hits,
        cim_hits + 2,
        "raw and CIM names give the same verdicts, plus the two target-side events"
    );
}
