//! The correlated target-side rule in a scan (issue 13): a 4698/4702 whose
//! `SubjectLogonId` is the `TargetLogonId` of a network logon (4624, logon type 3) on
//! the same host. The judging is [`crate::detection::task`]'s; this module only pairs
//! the two events as they stream by, within one source.
//!
//! Either may come first (exports are not always in time order): a logon is
//! remembered, and a task event without the RPC fields waits for its logon. Both are
//! bounded: at most [`MAX_LOGONS`] logons (the oldest forgotten first) and
//! [`MAX_WAITING`] task events (the oldest given up first, judged without a logon).
//! Pure state: no I/O; the caller turns what comes out into detections.

use std::collections::VecDeque;

use super::KeyMap;
use crate::detection::task::{NetworkLogon, RpcCaller, TaskEvent, TaskEventId};

/// At most this many network logons are remembered per source.
pub const MAX_LOGONS: usize = 65_536;
/// At most this many task events wait for their network logon per source.
pub const MAX_WAITING: usize = 4096;

/// A 4698/4702 owned, to wait for its logon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedTask {
    pub id: TaskEventId,
    pub dest: String,
    pub user: String,
    pub logon_id: String,
    pub task_name: String,
    pub task_content: String,
    pub rpc_call_client_locality: String,
    pub client_process_id: String,
}

impl OwnedTask {
    /// From a borrowed event.
    pub fn new(e: &TaskEvent<'_>) -> OwnedTask {
        OwnedTask {
            id: e.id,
            dest: e.dest.to_owned(),
            user: e.user.to_owned(),
            logon_id: e.logon_id.to_owned(),
            task_name: e.task_name.to_owned(),
            task_content: e.task_content.to_owned(),
            rpc_call_client_locality: e.rpc_call_client_locality.to_owned(),
            client_process_id: e.client_process_id.to_owned(),
        }
    }

    /// The borrowed event, for the detection core.
    pub fn event(&self) -> TaskEvent<'_> {
        TaskEvent {
            id: self.id,
            dest: &self.dest,
            user: &self.user,
            logon_id: &self.logon_id,
            task_name: &self.task_name,
            task_content: &self.task_content,
            rpc_call_client_locality: &self.rpc_call_client_locality,
            client_process_id: &self.client_process_id,
        }
    }
}

/// A network logon owned.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OwnedLogon {
    pub ip_address: String,
    pub workstation: String,
}

impl OwnedLogon {
    /// The borrowed logon, for the detection core.
    pub fn logon(&self) -> NetworkLogon<'_> {
        NetworkLogon {
            ip_address: &self.ip_address,
            workstation: &self.workstation,
        }
    }
}

/// A task event and what it was paired with; `payload` is the caller's (where the
/// record was).
#[derive(Debug)]
pub struct Paired<T> {
    pub task: OwnedTask,
    pub payload: T,
    pub logon: Option<OwnedLogon>,
}

type Key = (String, String);

/// The pairing key: the host (lowercased) and the logon ID (lowercased, `0x` kept).
fn key(host: &str, logon_id: &str) -> Key {
    (
        host.trim().to_ascii_lowercase(),
        logon_id.trim().to_ascii_lowercase(),
    )
}

/// Pairs task events with network logons; see the module documentation.
pub struct Correlator<T> {
    logons: KeyMap<Key, OwnedLogon>,
    logon_order: VecDeque<Key>,
    /// Waiting task events, oldest first (`None` once a logon took it); the front one is
    /// number `first_seq`.
    waiting: VecDeque<Option<(Key, OwnedTask, T)>>,
    first_seq: u64,
    /// The numbers of the waiting events by key, so that a logon (a log may hold
    /// millions) finds its events in constant time, not by a walk over the waiting ones.
    by_key: KeyMap<Key, Vec<u64>>,
    /// Logons forgotten and task events given up because a bound was reached.
    pub overflowed: u64,
}

impl<T> Default for Correlator<T> {
    fn default() -> Self {
        Correlator {
            logons: KeyMap::default(),
            logon_order: VecDeque::new(),
            waiting: VecDeque::new(),
            first_seq: 0,
            by_key: KeyMap::default(),
            overflowed: 0,
        }
    }
}

impl<T> Correlator<T> {
    /// A network logon (4624 type 3) on `host` with this `TargetLogonId`. Returns the
    /// waiting task events it completes.
    pub fn logon(
        &mut self,
        host: &str,
        target_logon_id: &str,
        logon: OwnedLogon,
    ) -> Vec<Paired<T>> {
        let k = key(host, target_logon_id);
        let mut done = Vec::new();
        for seq in self.by_key.remove(&k).unwrap_or_default() {
            let slot = seq
                .checked_sub(self.first_seq)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| self.waiting.get_mut(i));
            if let Some((_, task, payload)) = slot.and_then(Option::take) {
                done.push(Paired {
                    task,
                    payload,
                    logon: Some(logon.clone()),
                });
            }
        }
        if self.logons.insert(k.clone(), logon).is_none() {
            self.logon_order.push_back(k);
            if self.logon_order.len() > MAX_LOGONS {
                if let Some(old) = self.logon_order.pop_front() {
                    self.logons.remove(&old);
                    self.overflowed += 1;
                }
            }
        }
        done
    }

    /// A task event. Returned at once (with its logon when one is known) unless it
    /// lacks the RPC fields and its logon is not yet known: then it waits, and what
    /// comes back is the oldest waiting event when the bound is passed.
    pub fn task(&mut self, task: OwnedTask, payload: T) -> Vec<Paired<T>> {
        let k = key(&task.dest, &task.logon_id);
        let logon = self.logons.get(&k).cloned();
        if logon.is_some() || task.event().caller() != RpcCaller::Unknown {
            return vec![Paired {
                task,
                payload,
                logon,
            }];
        }
        let seq = self.first_seq + self.waiting.len() as u64;
        self.by_key.entry(k.clone()).or_default().push(seq);
        self.waiting.push_back(Some((k, task, payload)));
        let mut out = Vec::new();
        while self.waiting.len() > MAX_WAITING {
            let front = self.waiting.pop_front().flatten();
            let seq = self.first_seq;
            self.first_seq += 1;
            if let Some((k, task, payload)) = front {
                if let Some(seqs) = self.by_key.get_mut(&k) {
                    seqs.retain(|s| *s != seq);
                    if seqs.is_empty() {
                        self.by_key.remove(&k);
                    }
                }
                self.overflowed += 1;
                out.push(Paired {
                    task,
                    payload,
                    logon: None,
                });
            }
        }
        out
    }

    /// The task events still waiting at the end of the source, without a logon.
    pub fn finish(&mut self) -> Vec<Paired<T>> {
        self.logons.clear();
        self.logon_order.clear();
        self.by_key.clear();
        self.first_seq += self.waiting.len() as u64;
        self.waiting
            .drain(..)
            .flatten()
            .map(|(_, task, payload)| Paired {
                task,
                payload,
                logon: None,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(dest: &str, logon_id: &str, locality: &str) -> OwnedTask {
        OwnedTask {
            id: TaskEventId::Created,
            dest: dest.into(),
            user: "u".into(),
            logon_id: logon_id.into(),
            task_name: r"\T".into(),
            task_content: String::new(),
            rpc_call_client_locality: locality.into(),
            client_process_id: locality.into(),
        }
    }

    fn logon(ip: &str) -> OwnedLogon {
        OwnedLogon {
            ip_address: ip.into(),
            workstation: "-".into(),
        }
    }

    #[test]
    fn a_task_without_rpc_fields_pairs_with_its_logon_in_either_order() {
        let mut c = Correlator::default();
        assert!(c.logon("WS6", "0xEAD4335", logon("172.18.39.5")).is_empty());
        let out = c.task(task("ws6", "0xead4335", ""), 1);
        assert_eq!(out[0].logon, Some(logon("172.18.39.5")));
        // The other order: the task waits, the logon completes it.
        let mut c = Correlator::default();
        assert!(c.task(task("WS6", "0x10", ""), 2).is_empty());
        let out = c.logon("ws6", "0x10", logon("10.0.0.5"));
        assert_eq!(
            (out[0].payload, out[0].logon.clone()),
            (2, Some(logon("10.0.0.5")))
        );
        assert!(c.finish().is_empty());
    }

    #[test]
    fn tasks_with_rpc_fields_pass_at_once_and_other_hosts_do_not_pair() {
        let mut c = Correlator::default();
        c.logon("WS7", "0x10", logon("10.0.0.5"));
        let out = c.task(task("WS6", "0x10", "0"), 1);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].logon, None);
        assert!(c.task(task("WS6", "0x10", ""), 2).is_empty());
        let rest = c.finish();
        assert_eq!((rest[0].payload, rest[0].logon.clone()), (2, None));
    }

    #[test]
    fn at_most_max_waiting_tasks_wait() {
        let mut c = Correlator::default();
        for i in 0..MAX_WAITING {
            assert!(c.task(task("WS6", &format!("0x{i:x}"), ""), i).is_empty());
        }
        let out = c.task(task("WS6", "0xffffff", ""), MAX_WAITING);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].payload, 0);
        assert_eq!(c.overflowed, 1);
    }
}
