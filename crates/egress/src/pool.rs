//! A fixed pool of threads with a bounded queue, for work that takes a thread for long: mixing a clip's or
//! a report's window (up to ten minutes of a room's audio), decoding an upload. However many requests
//! arrive, at most `threads` jobs run and `queue` wait; the rest are refused at once and counted, never a
//! thread per request.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A handle to the pool; cheap to clone. The threads end when the last handle goes.
#[derive(Clone)]
pub struct WorkPool {
    jobs: SyncSender<Job>,
    refused: Arc<AtomicU64>,
}

impl std::fmt::Debug for WorkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkPool").field("refused", &self.refused()).finish()
    }
}

/// The pool is busy: the job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too busy for now")]
pub struct Busy;

impl WorkPool {
    /// `threads` threads named `name-N`, with `queue` jobs waiting at most.
    pub fn new(name: &str, threads: usize, queue: usize) -> WorkPool {
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                loop {
                    // The lock is held only to take a job, never while it runs.
                    let job = match rx.lock().unwrap_or_else(|e| e.into_inner()).recv() {
                        Ok(job) => job,
                        Err(_) => return,
                    };
                    // One job's panic stays in that job: the thread lives on for the next.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, pool = name, "cannot start a worker thread");
            }
        }
        WorkPool { jobs, refused: Arc::new(AtomicU64::new(0)) }
    }

    /// Queues `job`, or refuses it (and counts it) when the queue is full.
    pub fn try_run(&self, job: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        match self.jobs.try_send(Box::new(job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                Err(Busy)
            }
        }
    }

    /// Runs `f` on the pool and waits for its result without blocking an async thread; `Busy` when the
    /// queue is full or the job was lost.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Result<R, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.try_run(move || {
            let _ = tx.send(f());
        })?;
        rx.await.map_err(|_| Busy)
    }

    /// Jobs refused since the start, for `/metrics`.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pool_refuses_and_counts_rather_than_start_threads() {
        let pool = WorkPool::new("test-pool", 1, 2);
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let (started, running) = std::sync::mpsc::channel::<()>();
        pool.try_run(move || {
            started.send(()).unwrap();
            let _ = hold.recv();
        })
        .unwrap();
        running.recv().unwrap();
        // The one thread is busy: two wait, the rest are refused at once.
        let (done_tx, done) = std::sync::mpsc::channel::<u32>();
        for i in 0..2 {
            let done_tx = done_tx.clone();
            pool.try_run(move || done_tx.send(i).unwrap()).unwrap();
        }
        for _ in 0..10 {
            assert_eq!(pool.try_run(|| {}), Err(Busy));
        }
        assert_eq!(pool.refused(), 10);
        release.send(()).unwrap();
        assert_eq!((done.recv().unwrap(), done.recv().unwrap()), (0, 1), "the queued jobs run in order");
    }

    #[test]
    fn a_panicking_job_does_not_take_the_thread_with_it() {
        let pool = WorkPool::new("test-pool", 1, 4);
        pool.try_run(|| panic!("one job's bug")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        pool.try_run(move || tx.send(7).unwrap()).unwrap();
        assert_eq!(rx.recv().unwrap(), 7);
    }
}
