//! The session as splunkd drives it: probe, empty and header-only bodies, row ends,
//! quoted newlines, changing field sets, multivalue and invalid UTF-8 input, column
//! clashes, a closed stdout. The binary runs as a subprocess.

mod scp_support;

use std::process::Command;

use schtasksremote::cim::FieldPlan;
use schtasksremote::detection::{analyze, DetectorConfig, FieldValue, OUTPUT_FIELDS};
use scp_support::*;

const GETINFO_REPLY: &[u8] = b"chunked 1.0,20,0\n{\"type\":\"streaming\"}";

fn session(args: &[&str], executes: &[(bool, &[u8])]) -> Run {
    let mut stream = getinfo(args);
    for (finished, body) in executes {
        stream.extend_from_slice(&execute(*finished, body));
    }
    run(&stream)
}

/// The input columns of each output row (the first `width` fields).
fn input_part(records: &[csv::ByteRecord], width: usize) -> Vec<Vec<Vec<u8>>> {
    records
        .iter()
        .map(|r| r.iter().take(width).map(<[u8]>::to_vec).collect())
        .collect()
}

#[test]
fn getinfo_then_eof_is_a_probe_answered_once_and_exiting_0_quietly() {
    let run = run(&getinfo(&["action=annotate"]));
    assert_eq!(run.status, 0);
    assert_eq!(run.stdout, GETINFO_REPLY);
    assert_eq!(run.stderr, "");
}

#[test]
fn eof_before_any_request_exits_0_writing_nothing() {
    let run = run(b"");
    assert_eq!(
        (run.status, run.stdout.len(), run.stderr.as_str()),
        (0, 0, "")
    );
}

#[test]
fn empty_and_header_only_bodies_get_empty_reply_bodies_echoing_finished() {
    let run = session(
        &["action=annotate"],
        &[(false, b""), (false, b"a,\"__mv_a\"\n"), (true, b"a,b")],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let replies = run.replies();
    assert_eq!(replies.len(), 4);
    let finished: Vec<_> = replies[1..].iter().map(Reply::finished).collect();
    assert_eq!(finished, [Some(false), Some(false), Some(true)]);
    for reply in &replies[1..] {
        assert!(reply.body.is_empty());
        assert_eq!(reply.metric("schtasksremote.rows")[2..], [0.0, 0.0]);
    }
}

#[test]
fn a_one_row_chunk_comes_back_with_our_columns_appended() {
    let run = session(&["action=annotate"], &[(true, b"_time,host\n1,web01\n")]);
    let replies = run.replies();
    let recs = replies[1].records();
    assert_eq!(recs.len(), 2);
    assert_eq!(&recs[0][0], b"_time");
    assert_eq!(&recs[0][2], OUTPUT_FIELDS[0].as_bytes());
    assert_eq!(recs[0].len(), 2 + 2 * OUTPUT_FIELDS.len());
    assert_eq!((&recs[1][0], &recs[1][1]), (&b"1"[..], &b"web01"[..]));
    assert_eq!(replies[1].metric("schtasksremote.rows")[2..], [1.0, 1.0]);
}

#[test]
fn lf_crlf_quoted_newlines_and_an_unterminated_last_row_come_back_identical() {
    let bodies: [&[u8]; 4] = [
        b"a,b\n1,2\n3,4\n",
        b"a,b\r\n1,2\r\n3,4\r\n",
        b"a,b\r\n\"x\r\ny\",\"q\"\"q\"\n\"$,\",\n\n5,6",
        b"\"_raw\",\"_chunked_idx\",\"__mv__raw\"\n\"line1\nline2, \"\"quoted\"\"\",0,\n",
    ];
    for body in bodies {
        let run = session(&["action=annotate"], &[(true, body)]);
        assert_eq!(run.status, 0, "{}", run.stderr);
        let input = records(body);
        let width = input[0].len();
        let output = run.replies()[1].records();
        assert_eq!(
            input_part(&output, width),
            input_part(&input, width),
            "{body:?}"
        );
    }
}

#[test]
fn each_chunk_has_its_own_header_when_the_field_set_changes() {
    let run = session(
        &["action=annotate"],
        &[
            (false, b"a,b\n1,2\n"),
            (false, b"process_name,c,\"__mv_c\"\nnotepad.exe,x,\n"),
            (true, b"z\n9\n"),
        ],
    );
    let replies = run.replies();
    let heads: Vec<Vec<u8>> = replies[1..]
        .iter()
        .map(|r| r.records()[0].iter().next().unwrap().to_vec())
        .collect();
    assert_eq!(
        heads,
        [b"a".to_vec(), b"process_name".to_vec(), b"z".to_vec()]
    );
    assert_eq!(&replies[2].records()[1][1], b"x");
    assert_eq!(&replies[3].records()[1][0], b"9");
}

#[test]
fn invalid_utf8_and_special_fields_pass_byte_for_byte() {
    let body = b"_time,_raw,process_name,process,\"__mv__raw\"\n\"1.5\",\"\xff\xfe $x$\",\"sch\xe9tasks.exe\",\"\x80\",\n";
    let run = session(&["action=annotate"], &[(true, body)]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let out = run.replies()[1].records();
    assert_eq!(input_part(&out, 5), input_part(&records(body), 5));
}

#[test]
fn unknown_metadata_keys_numeric_times_and_blank_lines_between_chunks_are_accepted() {
    let getinfo = chunk(
        r#"{"action":"getinfo","preview":false,"brand_new":{"x":[1]},"searchinfo":{"args":["action=annotate"],"earliest_time":1599084000.0,"latest_time":"0","maxresultrows":"50000","dispatch_dir":"","future":null}}"#,
        b"",
    );
    let mut stream = getinfo;
    stream.extend_from_slice(b"\n");
    stream.extend_from_slice(&chunk(
        r#"{"action":"execute","finished":true,"preview":true,"new":1}"#,
        b"a\n1\n",
    ));
    stream.extend_from_slice(b"\r\n");
    let run = run(&stream);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let replies = run.replies();
    assert_eq!(replies.len(), 2);
    assert_eq!(&replies[1].records()[1][0], b"1");
}

#[test]
fn a_request_after_finished_still_gets_exactly_one_reply() {
    let run = session(&[], &[(true, b"a\n1\n"), (true, b"a\n2\n"), (false, b"")]);
    let finished: Vec<_> = run.replies().iter().map(Reply::finished).collect();
    assert_eq!(finished, [None, Some(true), Some(true), Some(false)]);
}

#[test]
fn a_closed_stdout_is_a_quiet_exit() {
    let mut stream = getinfo(&["action=annotate"]);
    let body: Vec<u8> = std::iter::once(&b"a\n"[..])
        .chain(std::iter::repeat_n(&b"xxxxxxxx\n"[..], 100_000))
        .flatten()
        .copied()
        .collect();
    stream.extend_from_slice(&execute(true, &body));
    let (status, stderr) = run_with_stdout_closed(Command::new(BIN), &stream);
    assert_eq!(status, Some(0), "stderr: {stderr}");
    assert_eq!(stderr, "");
}

/// What the core says about one row, through the same field mapping.
fn expected_fields(names: &[&str], values: &[&str]) -> Option<Vec<(String, String)>> {
    let plan = FieldPlan::from_names(names.iter().copied());
    let event = plan.map(|i| values.get(i).copied());
    let analysis = analyze(&event.as_event(), &DetectorConfig::default())?;
    if !analysis.is_detection() {
        return None;
    }
    Some(
        analysis
            .fields()
            .iter()
            .map(|(name, value)| {
                let (plain, mv) = match value {
                    FieldValue::Empty => (String::new(), String::new()),
                    FieldValue::One(s) => (s.to_string(), String::new()),
                    FieldValue::Many(list) if list.len() == 1 => {
                        (list[0].to_string(), String::new())
                    }
                    FieldValue::Many(list) => (
                        list.join("\n"),
                        list.iter()
                            .map(|v| format!("${}$", v.replace('$', "$$")))
                            .collect::<Vec<_>>()
                            .join(";"),
                    ),
                };
                ((*name).to_string(), format!("{plain}\u{0}{mv}"))
            })
            .collect(),
    )
}

const REMOTE: &str = r"schtasks.exe /create /s 10.0.0.5 /u CORP\admin /tn Updater /tr C:\temp\a.exe /sc once /st 00:00";

#[test]
fn a_multivalue_command_line_is_a_detection_when_any_value_is() {
    let local = "schtasks.exe /query";
    let names = ["process_name", "process", "dest", "__mv_process"];
    let mv = format!("${local}$;${}$", REMOTE.replace('$', "$$"));
    let mut body = b"process_name,process,dest,\"__mv_process\"\n".to_vec();
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["schtasks.exe", &format!("{local}\n{REMOTE}"), "ws1", &mv])
        .unwrap();
    w.write_record(["schtasks.exe", local, "ws1", ""]).unwrap();
    body.extend_from_slice(&w.into_inner().unwrap());
    let run = session(&[], &[(true, &body)]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let out = run.replies()[1].records();
    // Filter mode: only the multivalue row, judged on its second value.
    assert_eq!(out.len(), 2);
    let expected =
        expected_fields(&names[..3], &["schtasks.exe", REMOTE, "ws1"]).expect("a detection");
    let header: Vec<String> = out[0]
        .iter()
        .map(|f| String::from_utf8_lossy(f).into())
        .collect();
    for (name, value) in expected {
        let (plain, _) = value.split_once('\u{0}').unwrap();
        let i = header.iter().position(|h| *h == name).unwrap();
        assert_eq!(String::from_utf8_lossy(&out[1][i]), plain, "{name}");
    }
    assert_eq!(&out[1][3], mv.as_bytes(), "input __mv_ column unchanged");
}

#[test]
fn input_columns_named_like_ours_are_not_duplicated_and_kept_on_non_detections() {
    let names = [
        "process_name",
        "process",
        "dest",
        "risk_score",
        "__mv_mitre_technique_id",
    ];
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(names).unwrap();
    w.write_record(["schtasks.exe", REMOTE, "ws1", "5", "$old$;$x,y$"])
        .unwrap();
    w.write_record(["cmd.exe", "dir", "ws1", "7", "$keep$;$me$"])
        .unwrap();
    let body = w.into_inner().unwrap();
    let run = session(&["action=annotate"], &[(true, &body)]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let out = run.replies()[1].records();
    let header: Vec<String> = out[0]
        .iter()
        .map(|f| String::from_utf8_lossy(f).into())
        .collect();
    let mut sorted = header.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        sorted.len(),
        header.len(),
        "no duplicate column: {header:?}"
    );
    assert_eq!(header.len(), names.len() + 2 * OUTPUT_FIELDS.len() - 2);
    // The non-detection keeps its own values in the clashing columns.
    assert_eq!((&out[2][3], &out[2][4]), (&b"7"[..], &b"$keep$;$me$"[..]));
    // The detection carries ours there, and its other input fields unchanged.
    let expected =
        expected_fields(&names[..3], &["schtasks.exe", REMOTE, "ws1"]).expect("a detection");
    for (name, value) in expected {
        let (plain, mv) = value.split_once('\u{0}').unwrap();
        let i = header.iter().position(|h| *h == name).unwrap();
        assert_eq!(String::from_utf8_lossy(&out[1][i]), plain, "{name}");
        let j = header
            .iter()
            .position(|h| *h == format!("__mv_{name}"))
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out[1][j]), mv, "__mv_{name}");
    }
    assert_eq!(&out[1][1], REMOTE.as_bytes());
}

#[test]
fn input_without_process_fields_and_missing_override_fields_are_warned_once() {
    let run = session(
        &["action=annotate", "dest_field=hostname"],
        &[
            (false, b"a,b\n1,2\n"),
            (false, b"a,b\n3,4\n"),
            (true, b"process_name\nnotepad.exe\n"),
        ],
    );
    assert_eq!(run.status, 0, "{}", run.stderr);
    let replies = run.replies();
    let warns: Vec<Vec<(String, String)>> = replies[1..].iter().map(Reply::messages).collect();
    assert_eq!(warns[0].len(), 2, "{warns:?}");
    assert!(warns[0].iter().all(|(level, _)| level == "WARN"));
    assert!(warns[0][0]
        .1
        .contains("dest_field=hostname: the input has no field named \"hostname\""));
    assert!(warns[0][1]
        .1
        .contains("the input has no field naming the process"));
    assert!(warns[1].is_empty(), "once per session: {warns:?}");
    // Rows with a process name and no command line cannot be judged (issue 10 kind B):
    // one warning naming the row, what is missing and the option that supplies it.
    assert_eq!(
        warns[2],
        [(
            "WARN".to_string(),
            "schtasksremote: a process creation cannot be judged: row 3 of the results has no \
             command line (CIM process); name the field that holds it with \
             process_field=<field>; strict=true makes this an error"
                .to_string()
        )]
    );
    // The rows still all come back.
    assert_eq!(replies[3].records().len(), 2);
}

#[test]
fn rows_with_too_many_multivalue_combinations_are_judged_in_part_with_a_warning() {
    let list = |prefix: &str| -> (String, String) {
        let values: Vec<String> = (0..10).map(|i| format!("{prefix}{i}")).collect();
        let mv = values
            .iter()
            .map(|v| format!("${v}$"))
            .collect::<Vec<_>>()
            .join(";");
        (values.join("\n"), mv)
    };
    let (names, names_mv) = list("app");
    let (cmds, cmds_mv) = list("app /x ");
    let (hosts, hosts_mv) = list("ws");
    let mut w = csv::Writer::from_writer(Vec::new());
    let header = [
        "process_name",
        "process",
        "dest",
        "__mv_process_name",
        "__mv_process",
        "__mv_dest",
    ];
    w.write_record(header).unwrap();
    w.write_record([&names, &cmds, &hosts, &names_mv, &cmds_mv, &hosts_mv])
        .unwrap();
    let body = w.into_inner().unwrap();
    let run = session(&["action=annotate"], &[(true, &body)]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let reply = &run.replies()[1];
    assert_eq!(
        reply.messages(),
        vec![(
            "WARN".to_string(),
            "schtasksremote: a row has 1000 combinations of multivalue process fields; only the \
             first 256 were judged"
                .to_string()
        )]
    );
    assert_eq!(
        input_part(&reply.records(), 6),
        input_part(&records(&body), 6)
    );
}

/// The README's tuning search (`| schtasksremote action=annotate | stats count by …`,
/// issue 12 item 1) only works when every schtasks row, detection or not, carries the
/// fields it groups by. Checked on the rows the issue names: a local `/sc daily`
/// creation, a loopback one, a query of a remote host, a detection and another process.
#[test]
fn annotate_fills_the_readme_tuning_fields_on_every_schtasks_row() {
    let readme = include_str!("../README.md");
    let spl = readme
        .split("<!-- tuning -->")
        .nth(1)
        .and_then(|s| s.split("```spl\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("README has the tuning search after <!-- tuning -->");
    assert!(spl.contains("| schtasksremote action=annotate"), "{spl}");
    let by: Vec<&str> = spl
        .split(" by ")
        .nth(1)
        .expect("the tuning search groups `by` fields")
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert!(by.contains(&"detection_reason"), "{spl}");

    let names = ["process_name", "process", "dest"];
    let rows = [
        (
            "schtasks.exe",
            "schtasks /create /tn t /tr x /sc daily",
            "no_target_system",
        ),
        (
            "schtasks.exe",
            "schtasks /create /s 127.1 /tn t /tr x /sc once",
            "loopback_target",
        ),
        ("schtasks.exe", "schtasks /query /s HOST2", "not_create"),
        ("schtasks.exe", REMOTE, "remote_create"),
        (
            "cmd.exe",
            "cmd /c schtasks /create /s HOST2 /tn t /tr x",
            "",
        ),
    ];
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(names).unwrap();
    for (image, line, _) in rows {
        w.write_record([image, line, "ws1"]).unwrap();
    }
    let body = w.into_inner().unwrap();
    let run = session(&["action=annotate"], &[(true, &body)]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    let out = run.replies()[1].records();
    assert_eq!(out.len(), rows.len() + 1);
    let column = |name: &str| {
        out[0]
            .iter()
            .position(|h| h == name.as_bytes())
            .unwrap_or_else(|| panic!("no column {name}"))
    };
    let cell = |row: usize, name: &str| String::from_utf8_lossy(&out[row][column(name)]);
    for (i, (image, line, reason)) in rows.iter().enumerate() {
        let row = i + 1;
        assert_eq!(cell(row, "detection_reason"), *reason, "{line}");
        let detection = *reason == "remote_create";
        for name in [
            "detection_name",
            "risk_score",
            "risk_message",
            "mitre_technique_id",
        ] {
            assert_eq!(cell(row, name).is_empty(), !detection, "{name} of {line}");
        }
        if *image != "schtasks.exe" {
            for name in OUTPUT_FIELDS {
                assert_eq!(cell(row, name), "", "{name} of {line}");
            }
            continue;
        }
        assert_eq!(cell(row, "process_masked"), *line);
        assert!(!cell(row, "schtasks_operation").is_empty(), "{line}");
        // The README groups by these; each is what the core parsed.
        let analysis = analyze(
            &schtasksremote::detection::ProcessEvent {
                process_name: image,
                process: line,
                dest: "ws1",
                ..Default::default()
            },
            &DetectorConfig::default(),
        )
        .expect("schtasks");
        for name in &by {
            let (_, value) = analysis
                .fields()
                .into_iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("the README groups by {name}, which we do not add"));
            let expected = match value {
                FieldValue::Empty => String::new(),
                FieldValue::One(s) => s.into_owned(),
                FieldValue::Many(list) => list.join("\n"),
            };
            assert_eq!(cell(row, name), expected, "{name} of {line}");
        }
    }
    assert_eq!(cell(1, "task_schedule"), "daily");
    assert_eq!(cell(2, "remote_host_normalized"), "127.1");
    assert_eq!(cell(3, "remote_host"), "HOST2");
}
