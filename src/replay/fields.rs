//! One record's fields as name/value pairs, in a store that is reused from record to
//! record (one growing `String`, one growing `Vec` of spans), so that reading a record
//! allocates nothing once the store has warmed up.

use std::fmt::Write as _;
use std::ops::Range;

use crate::cim::{self, EventField, EventKind};

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

    /// The number of fields.
    pub(crate) fn len(&self) -> usize {
        self.spans.len()
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
    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        let i = self.names().position(|n| n == name)?;
        self.value(i)
    }

    /// Classifies the record from its fields so far, by name ([`cim::classify_event`]).
    /// For a reader that must decide before the whole record is read (the XML reader
    /// after `<System>`); the judge classifies through the cached field plan instead.
    pub(crate) fn event_kind(&self) -> EventKind {
        let values = |field: EventField| {
            field.names().iter().flat_map(move |wanted| {
                self.names()
                    .enumerate()
                    .filter(move |(_, n)| wanted.matches(n))
                    .filter_map(move |(i, _)| self.value(i))
            })
        };
        let says = |field: EventField, word: &str| cim::any_says(values(field), word);
        cim::classify_event(|field| values(field).next(), says)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
