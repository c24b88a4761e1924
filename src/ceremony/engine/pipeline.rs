//! An ordered parallel map for the batch steps: workers take jobs from one
//! iterator, a few at a time, and hand their results to one sink in job order.
//!
//! There is no feeder or collector thread: a worker takes its next chunk of jobs
//! under a lock, works it out of the lock, then hands the results in; whichever
//! worker completes the oldest outstanding chunk feeds the sink. Threads meet once
//! per chunk, not once per job, and memory stays bounded: a worker waits before
//! taking a chunk while more than a few are done but not yet taken by the sink.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

/// Jobs a worker takes at a time.
const CHUNK: usize = 16;

/// What the sink says after each result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    /// Take no more results and start no more jobs (the run ends early).
    Stop,
}

/// How a run ended when nothing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The sink took a result for every job.
    Complete,
    /// The sink said [`Flow::Stop`].
    Stopped,
}

struct Source<I> {
    jobs: I,
    /// Chunks taken so far.
    taken: usize,
    exhausted: bool,
}

struct Sink<R, S> {
    sink: S,
    /// The next chunk the sink takes.
    next: usize,
    pending: BTreeMap<usize, Vec<R>>,
    error: Option<Error>,
}

struct Shared<I, R, S> {
    source: Mutex<Source<I>>,
    /// Signalled when the sink has moved on or the run is stopping.
    moved: Condvar,
    sink: Mutex<Sink<R, S>>,
    /// Chunks the sink has taken (read without the sink's lock).
    sunk: AtomicUsize,
    stop: AtomicBool,
}

impl<I, R, S> Shared<I, R, S> {
    fn source(&self) -> MutexGuard<'_, Source<I>> {
        self.source.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sink(&self) -> MutexGuard<'_, Sink<R, S>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wake the workers waiting for the sink (taking the source lock first, so a
    /// worker between its check and its wait cannot miss it).
    fn wake(&self) {
        drop(self.source());
        self.moved.notify_all();
    }
}

/// Stops the run if a worker panics, so the others do not wait for it forever.
struct StopOnPanic<'a, I, R, S>(&'a Shared<I, R, S>);

impl<I, R, S> Drop for StopOnPanic<'_, I, R, S> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.stop.store(true, Ordering::SeqCst);
            self.0.wake();
        }
    }
}

/// Run `work` over `jobs` on one thread per worker state in `workers`, and give
/// every result to `sink` in job order. The first error the sink returns ends
/// the run and is returned; jobs not yet started are not started.
pub fn ordered<W, T, R, I, F, S>(workers: Vec<W>, jobs: I, work: F, sink: S) -> Result<Ended>
where
    W: Send,
    T: Send,
    R: Send,
    I: Iterator<Item = T> + Send,
    F: Fn(&mut W, T) -> R + Sync,
    S: FnMut(R) -> Result<Flow> + Send,
{
    if workers.is_empty() {
        return Err(Error::Internal("an ordered map needs a worker".into()));
    }
    let ahead = 2 * workers.len();
    let shared = Shared {
        source: Mutex::new(Source {
            jobs,
            taken: 0,
            exhausted: false,
        }),
        moved: Condvar::new(),
        sink: Mutex::new(Sink {
            sink,
            next: 0,
            pending: BTreeMap::new(),
            error: None,
        }),
        sunk: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
    };
    let shared = &shared;
    let work = &work;
    std::thread::scope(|scope| {
        for mut w in workers {
            scope.spawn(move || {
                let _guard = StopOnPanic(shared);
                while let Some((id, chunk)) = take(shared, ahead) {
                    let results: Vec<R> = chunk.into_iter().map(|t| work(&mut w, t)).collect();
                    hand_in(shared, id, results);
                }
            });
        }
    });
    let mut sink = shared.sink();
    let taken = shared.source().taken;
    if let Some(e) = sink.error.take() {
        return Err(e);
    }
    if shared.stop.load(Ordering::SeqCst) {
        return Ok(Ended::Stopped);
    }
    if sink.next != taken || !sink.pending.is_empty() {
        return Err(Error::Internal(format!(
            "the sink took {} of {taken} chunks",
            sink.next
        )));
    }
    Ok(Ended::Complete)
}

/// The next chunk of jobs and its number, once the sink is not too far behind;
/// `None` when the jobs are used up or the run is stopping.
fn take<I, T, R, S>(shared: &Shared<I, R, S>, ahead: usize) -> Option<(usize, Vec<T>)>
where
    I: Iterator<Item = T>,
{
    let mut source = shared.source();
    loop {
        if shared.stop.load(Ordering::SeqCst) || source.exhausted {
            return None;
        }
        if source.taken - shared.sunk.load(Ordering::SeqCst) < ahead {
            break;
        }
        source = shared.moved.wait(source).unwrap_or_else(|e| e.into_inner());
    }
    let chunk: Vec<T> = source.jobs.by_ref().take(CHUNK).collect();
    if chunk.len() < CHUNK {
        source.exhausted = true;
    }
    if chunk.is_empty() {
        return None;
    }
    let id = source.taken;
    source.taken += 1;
    Some((id, chunk))
}

/// Hand in chunk `id`'s results, and feed the sink every chunk now in order.
fn hand_in<I, R, S>(shared: &Shared<I, R, S>, id: usize, results: Vec<R>)
where
    S: FnMut(R) -> Result<Flow>,
{
    let mut sink = shared.sink();
    sink.pending.insert(id, results);
    let mut moved = false;
    'chunks: while !shared.stop.load(Ordering::SeqCst) {
        let next = sink.next;
        let Some(results) = sink.pending.remove(&next) else {
            break;
        };
        for r in results {
            match (sink.sink)(r) {
                Ok(Flow::Continue) => {}
                Ok(Flow::Stop) => {
                    shared.stop.store(true, Ordering::SeqCst);
                    break 'chunks;
                }
                Err(e) => {
                    sink.error = Some(e);
                    shared.stop.store(true, Ordering::SeqCst);
                    break 'chunks;
                }
            }
        }
        sink.next += 1;
        shared.sunk.store(sink.next, Ordering::SeqCst);
        moved = true;
    }
    let stopping = shared.stop.load(Ordering::SeqCst);
    drop(sink);
    if moved || stopping {
        shared.wake();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_reach_the_sink_in_job_order() {
        let mut seen = Vec::new();
        let ended = ordered(
            vec![(), (), ()],
            0..1000u64,
            |_, i| {
                // Uneven work, so chunks finish out of order.
                if i % 7 == 0 {
                    std::thread::yield_now();
                }
                i * 2
            },
            |r| {
                seen.push(r);
                Ok(Flow::Continue)
            },
        )
        .unwrap();
        assert_eq!(ended, Ended::Complete);
        assert_eq!(seen, (0..1000u64).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn the_sink_can_stop_early_or_fail_and_nothing_after_reaches_it() {
        let mut seen = 0u64;
        let ended = ordered(
            vec![(), ()],
            0..10_000u64,
            |_, i| i,
            |r| {
                seen = r;
                Ok(if r == 300 { Flow::Stop } else { Flow::Continue })
            },
        )
        .unwrap();
        assert_eq!((ended, seen), (Ended::Stopped, 300));
        let mut last = 0u64;
        let err = ordered(
            vec![(), ()],
            0..10_000u64,
            |_, i| i,
            |r| {
                last = r;
                if r == 77 {
                    Err(Error::Internal("seventy-seven".into()))
                } else {
                    Ok(Flow::Continue)
                }
            },
        )
        .unwrap_err();
        assert!(err.to_string().contains("seventy-seven"));
        assert_eq!(last, 77);
    }

    #[test]
    fn no_job_is_lost_and_no_jobs_is_no_work() {
        let mut total = 0u64;
        ordered(
            vec![0u64; 2],
            0..5000u64,
            |count, i| {
                *count += 1;
                i
            },
            |r| {
                total += r;
                Ok(Flow::Continue)
            },
        )
        .unwrap();
        assert_eq!(total, (0..5000u64).sum::<u64>());
        let mut none = 0;
        let ended = ordered(
            vec![()],
            std::iter::empty::<u8>(),
            |_, i| i,
            |_| {
                none += 1;
                Ok(Flow::Continue)
            },
        )
        .unwrap();
        assert_eq!((ended, none), (Ended::Complete, 0));
        // No worker would mean no job done: refused, not reported complete.
        let no_workers: Vec<()> = Vec::new();
        assert!(ordered(no_workers, 0..3u8, |_, i| i, |_| Ok(Flow::Continue)).is_err());
    }

    #[test]
    fn a_panicking_worker_does_not_leave_the_others_waiting() {
        let outcome = std::panic::catch_unwind(|| {
            ordered(
                vec![(), ()],
                0..10_000u64,
                |_, i| {
                    assert!(i != 40, "job 40 fails");
                    i
                },
                |_| Ok(Flow::Continue),
            )
        });
        assert!(outcome.is_err());
    }
}
