//! Numbered jobs done by worker threads and taken in order by one consumer, in bounded
//! memory (issue 15): each job has its own queue, and a worker starts a job only within
//! a window of the one being consumed, so at most `window` queues wait whatever the jobs
//! hold, and since the job being consumed always has its worker, nothing waits on
//! itself. `scan` uses it for its inputs (the consumer prints), the split of one file
//! ([`super::split`]) for its pieces (the consumer merges).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::Stop;

/// How long a waiting worker or consumer sleeps before it looks at the stop signal
/// again (and the consumer runs its `waiting` callback).
pub const TICK: Duration = Duration::from_millis(100);

/// The jobs, their queues `Q` (what the consumer takes), and who is where.
pub struct Ordered<Q> {
    state: Mutex<State<Q>>,
    changed: Condvar,
    window: usize,
    next: AtomicUsize,
    jobs: usize,
}

struct State<Q> {
    /// The job being consumed; workers stay within `window` of it.
    consuming: usize,
    /// The queues of the jobs started and not yet taken.
    queues: BTreeMap<usize, Q>,
    /// Workers still running.
    workers: usize,
    /// Set by [`Ordered::finish`]: no job starts any more.
    done: bool,
}

impl<Q> Ordered<Q> {
    /// `jobs` jobs for `workers` threads, each starting a job only within `window` jobs
    /// of the one being consumed.
    pub fn new(jobs: usize, workers: usize, window: usize) -> Self {
        Ordered {
            state: Mutex::new(State {
                consuming: 0,
                queues: BTreeMap::new(),
                workers,
                done: false,
            }),
            changed: Condvar::new(),
            window: window.max(1),
            next: AtomicUsize::new(0),
            jobs,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<Q>> {
        // A thread that panicked holding the lock left nothing half-done in it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'a>(&self, state: MutexGuard<'a, State<Q>>) -> MutexGuard<'a, State<Q>> {
        match self.changed.wait_timeout(state, TICK) {
            Ok((state, _)) => state,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }

    /// One worker's loop: takes the next job, waits for the window, makes its queue
    /// with `open(i)` (the queue for the consumer, and what the job writes to), and
    /// runs `run(i, writer)`; until the jobs run out, `stop` is raised or the consumer
    /// is done. Counted out even if a job panics, so the consumer does not wait.
    pub fn work<W>(
        &self,
        stop: &Stop,
        mut open: impl FnMut(usize) -> (Q, W),
        mut run: impl FnMut(usize, W),
    ) {
        struct Leaving<'a, Q>(&'a Ordered<Q>);
        impl<Q> Drop for Leaving<'_, Q> {
            fn drop(&mut self) {
                self.0.lock().workers -= 1;
                self.0.changed.notify_all();
            }
        }
        let _leaving = Leaving(self);
        while !stop.is_raised() {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.jobs {
                return;
            }
            let mut state = self.lock();
            while i >= state.consuming + self.window && !stop.is_raised() && !state.done {
                state = self.wait(state);
            }
            if stop.is_raised() || state.done {
                return;
            }
            let (queue, writer) = open(i);
            state.queues.insert(i, queue);
            drop(state);
            self.changed.notify_all();
            run(i, writer);
        }
    }

    /// Job `i` is consumed now: takes its queue once a worker started it, running
    /// `waiting` at every [`TICK`] meanwhile (without the lock); `None` when no worker
    /// is left to start it (the jobs ran out, or the scan was stopped).
    pub fn take(&self, i: usize, mut waiting: impl FnMut()) -> Option<Q> {
        let mut state = self.lock();
        state.consuming = i;
        self.changed.notify_all();
        loop {
            if let Some(queue) = state.queues.remove(&i) {
                return Some(queue);
            }
            if state.workers == 0 || state.done {
                return None;
            }
            state = self.wait(state);
            drop(state);
            waiting();
            state = self.lock();
        }
    }

    /// Runs `f` on the queue of every job started and not taken.
    pub fn each(&self, f: impl FnMut(&Q)) {
        self.lock().queues.values().for_each(f);
    }

    /// The consumer is done: no job starts any more; returns the queues of the jobs
    /// started and not taken, in order (after a stop, jobs after a gap may have run).
    pub fn finish(&self) -> Vec<Q> {
        let mut state = self.lock();
        state.done = true;
        let left = std::mem::take(&mut state.queues).into_values().collect();
        drop(state);
        self.changed.notify_all();
        left
    }
}
