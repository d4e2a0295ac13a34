//! One record's fields as name/value pairs, in a store that is reused from record to
//! record (one growing `String`, one growing `Vec` of spans), so that reading a record
//! allocates nothing once the store has warmed up.

use std::fmt::Write as _;
use std::ops::Range;

#[derive(Debug, Clone)]
struct Span {
    name: Range<usize>,
    value: Range<usize>,
}

/// The fields of the record being read. Names may repeat (leaf names of nested JSON);
/// lookups take the first.
#[derive(Debug, Default)]
pub(crate) struct Fields {
    text: String,
    spans: Vec<Span>,
    /// A name written by [`Fields::begin`] whose value is still being written.
    open: Option<(Range<usize>, usize)>,
}

impl Fields {
    pub(crate) fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
        self.open = None;
    }

    /// Adds a complete field.
    #[cfg(test)]
    pub(crate) fn push(&mut self, name: &str, value: &str) {
        self.begin(name);
        self.text.push_str(value);
        self.end();
    }

    /// Starts a field whose value is then written with [`Fields::value_text`].
    pub(crate) fn begin(&mut self, name: &str) {
        let start = self.text.len();
        self.text.push_str(name);
        let name = start..self.text.len();
        self.open = Some((name, self.text.len()));
    }

    /// Starts a field whose name `write_name` appends to the given buffer.
    pub(crate) fn begin_with<E>(
        &mut self,
        write_name: impl FnOnce(&mut String) -> Result<(), E>,
    ) -> Result<(), E> {
        let start = self.text.len();
        if let Err(e) = write_name(&mut self.text) {
            self.text.truncate(start);
            return Err(e);
        }
        self.open = Some((start..self.text.len(), self.text.len()));
        Ok(())
    }

    /// The text of the value being written (after [`Fields::begin`]).
    pub(crate) fn value_text(&mut self) -> &mut String {
        &mut self.text
    }

    /// Appends a number to the value being written.
    pub(crate) fn value_display(&mut self, v: impl std::fmt::Display) {
        // Writing to a String cannot fail.
        let _ = write!(self.text, "{v}");
    }

    /// Ends the field started by [`Fields::begin`].
    pub(crate) fn end(&mut self) {
        if let Some((name, value_start)) = self.open.take() {
            self.spans.push(Span {
                name,
                value: value_start..self.text.len(),
            });
        }
    }

    /// Drops the field started by [`Fields::begin`] (its value was not a scalar).
    pub(crate) fn abandon(&mut self) {
        if let Some((name, _)) = self.open.take() {
            self.text.truncate(name.start);
        }
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.spans
            .iter()
            .map(|s| self.text.get(s.name.clone()).unwrap_or(""))
    }

    pub(crate) fn value(&self, i: usize) -> Option<&str> {
        let span = self.spans.get(i)?;
        self.text.get(span.value.clone())
    }

    /// The value of the first field called `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let i = self.names().position(|n| n == name)?;
        self.value(i)
    }

    /// The value of the first present field among `names`, in that order.
    pub(crate) fn first_of(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }
}

/// What kind of event a record is, judged from its event-type fields only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A process creation (Sysmon 1, Security 4688, CrowdStrike ProcessRollup2) or a
    /// row that carries process fields and no event type at all (a CIM export).
    Process,
    /// Anything else: skipped and counted.
    Other,
}

/// Field names that carry the Windows event ID, by format: XML / NXLog / OTRF,
/// Splunk exports, winlogbeat (`winlog.event_id`).
const EVENT_ID_NAMES: [&str; 3] = ["EventID", "EventCode", "event_id"];
/// Field names that say which log or provider wrote the event.
const PROVIDER_NAMES: [&str; 7] = [
    "Provider",
    "SourceName",
    "Channel",
    "provider_name",
    "channel",
    "source",
    "sourcetype",
];

/// Classifies a record. `has_process_fields` is asked only for rows without any event
/// type (CSV exports of `Endpoint.Processes`).
pub(crate) fn classify(fields: &Fields) -> Kind {
    if let Some(name) = fields.get("event_simpleName") {
        return match name {
            "ProcessRollup2" | "SyntheticProcessRollup2" => Kind::Process,
            _ => Kind::Other,
        };
    }
    let Some(eid) = fields.first_of(&EVENT_ID_NAMES) else {
        return if crate::cim::FieldPlan::from_names(fields.names()).has_process_fields() {
            Kind::Process
        } else {
            Kind::Other
        };
    };
    let provider_says = |word: &str| -> Option<bool> {
        let mut any = false;
        for v in PROVIDER_NAMES.iter().filter_map(|n| fields.get(n)) {
            any = true;
            if contains_ignore_ascii_case(v, word) {
                return Some(true);
            }
        }
        any.then_some(false)
    };
    match eid.trim() {
        // Event ID 1 means "process create" only for Sysmon; other providers reuse it.
        "1" => match provider_says("sysmon") {
            Some(true) | None => Kind::Process,
            Some(false) => Kind::Other,
        },
        "4688" => match provider_says("security") {
            Some(true) | None => Kind::Process,
            Some(false) => Kind::Other,
        },
        _ => Kind::Other,
    }
}

fn contains_ignore_ascii_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// Field names that carry the event's time, in preference order.
pub(crate) const TIME_NAMES: [&str; 7] = [
    "TimeCreated",
    "@timestamp",
    "EventTime",
    "_time",
    "timestamp",
    "UtcTime",
    "time",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        let mut f = Fields::default();
        for (n, v) in pairs {
            f.push(n, v);
        }
        f
    }

    #[test]
    fn sysmon_eid_1_is_a_process_event_but_other_providers_eid_1_is_not() {
        let sysmon = fields(&[("EventID", "1"), ("SourceName", "Microsoft-Windows-Sysmon")]);
        assert_eq!(classify(&sysmon), Kind::Process);
        let other = fields(&[
            ("EventID", "1"),
            ("Provider", "Microsoft-Windows-Time-Service"),
        ]);
        assert_eq!(classify(&other), Kind::Other);
    }

    #[test]
    fn security_4688_and_crowdstrike_rollups_are_process_events() {
        let sec = fields(&[("EventID", "4688"), ("Channel", "Security")]);
        assert_eq!(classify(&sec), Kind::Process);
        let cs = fields(&[("event_simpleName", "SyntheticProcessRollup2")]);
        assert_eq!(classify(&cs), Kind::Process);
        let dns = fields(&[("event_simpleName", "DnsRequest"), ("CommandLine", "x")]);
        assert_eq!(classify(&dns), Kind::Other);
    }

    #[test]
    fn rows_without_event_type_are_process_events_only_with_process_fields() {
        assert_eq!(
            classify(&fields(&[("process_name", "a.exe")])),
            Kind::Process
        );
        assert_eq!(classify(&fields(&[("foo", "bar")])), Kind::Other);
    }

    #[test]
    fn abandoned_field_leaves_no_trace() {
        let mut f = Fields::default();
        f.push("a", "1");
        f.begin("nested");
        f.abandon();
        f.begin("b");
        f.value_display(42);
        f.end();
        assert_eq!(f.names().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(f.get("b"), Some("42"));
    }
}
