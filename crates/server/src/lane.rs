//! The bulk lane: threads of their own, under `SCHED_IDLE`, for work that many people make at a steady rate
//! and that tolerates a few milliseconds, so that it never keeps the rooms and the hallway waiting.
//!
//! The backchannel's requests and its tabs' streams run here: at 1,000 messages a second they are a core's
//! worth of small tasks on two, and on the same threads as everything else each one was a turn that a join
//! or a hallway waited behind. Under `SCHED_IDLE` the kernel hands a core to any other thread of this
//! server the moment it wakes; the lane's store readers are its own too ([`stoa_store::lane`]), and its
//! writes, which hold the one write lock, run on the store's pool at the normal priority. The
//! lane still gets every core the rest leaves idle, which on a server whose rooms are quiet is nearly all.
//! HTTP itself (reading the request, writing the response) stays on the server's workers.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::future::Future;
use std::sync::Arc;

/// The bulk lane's runtime. Clones share it; the last one stops it.
#[derive(Clone)]
pub struct Lane(Arc<Owner>);

struct Owner {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Lane {
    /// Starts the lane's threads: as many as the cores.
    pub fn start() -> std::io::Result<Lane> {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("stoa-bulk")
            .on_thread_start(|| {
                lower_to_idle();
                stoa_store::lane::serve_bulk_on_this_thread();
            })
            .enable_all()
            .build()?;
        Ok(Lane(Arc::new(Owner { runtime: Some(runtime) })))
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.0.runtime.as_ref().expect("the runtime is only taken when the lane is dropped").handle()
    }

    /// Runs `work` on the lane; dropping what this returns before it is done cancels it.
    pub fn run<F>(&self, work: F) -> impl Future<Output = Option<F::Output>> + Send + use<F>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let task = Cancel(self.handle().spawn(work));
        async move {
            let mut task = task;
            (&mut task.0).await.ok()
        }
    }
}

/// A task of the lane's, aborted when its waiter is dropped: a request whose client went away, a stream
/// whose tab closed.
struct Cancel<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for Cancel<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Middleware: the rest of the request (its extractors, its handler) runs on the lane.
pub async fn on_bulk_lane(State(state): State<crate::AppState>, request: Request, next: Next) -> Response {
    match state.lane.run(next.run(request)).await {
        Some(response) => response,
        None => crate::error::ApiError::internal("the request's task stopped").into_response(),
    }
}

/// Puts the calling thread under `SCHED_IDLE`: it runs only on a core no other thread wants. Threads it
/// starts (a store connection's worker) inherit the policy. Best effort: without it, the lane still keeps
/// its work off the server's own workers.
fn lower_to_idle() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: a plain syscall on the calling thread (0), with a valid parameter.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) } != 0 {
        tracing::debug!(error = %std::io::Error::last_os_error(), "the bulk lane keeps its scheduling policy");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stoa_store::Store;

    /// The scheduling policy of each of this process's threads whose name starts with `prefix`.
    fn policies(prefix: &str) -> Vec<i32> {
        let mut found = Vec::new();
        for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
            let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
            if !name.starts_with(prefix) {
                continue;
            }
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            // The fields after the name, which is in parentheses; the policy is the 41st field.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            found.push(after.split(' ').nth(38).unwrap().parse().unwrap());
        }
        found
    }

    #[tokio::test]
    async fn the_lanes_threads_and_the_store_readers_they_open_are_idle_class() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(stoa_store::SqliteStore::open(dir.path()).await.unwrap());
        let lane = Lane::start().unwrap();
        let on_lane = store.clone();
        let (policy, marked, read) = lane
            .run(async move {
                // SAFETY: a plain syscall on the calling thread.
                let policy = unsafe { libc::sched_getscheduler(0) };
                let read = on_lane.session_account("no such token").await.map(|a| a.is_none());
                (policy, stoa_store::lane::on_bulk_lane(), read)
            })
            .await
            .expect("the task ran");
        assert_eq!(policy, libc::SCHED_IDLE, "the lane's threads are idle-class");
        assert!(marked, "the lane's threads are marked for the store");
        assert!(matches!(read, Ok(true)), "the read on the lane answered: {read:?}");
        assert!(!stoa_store::lane::on_bulk_lane(), "a thread of the test's own is not the lane's");
        // The store's own connections opened at start keep the normal policy; those the lane's read opened
        // took the lane's.
        let workers = policies("sqlx-sqlite-wor");
        let idle = workers.iter().filter(|p| **p == libc::SCHED_IDLE).count();
        let normal = workers.iter().filter(|p| **p == libc::SCHED_OTHER).count();
        assert!(idle >= 1, "the lane's connections run under SCHED_IDLE: {workers:?}");
        assert!(normal >= 2, "the server's own connections keep the normal policy: {workers:?}");
    }

    #[tokio::test]
    async fn a_task_on_the_lane_ends_when_its_waiter_is_dropped() {
        let lane = Lane::start().unwrap();
        let (held, gone) = tokio::sync::oneshot::channel::<()>();
        let waiting = lane.run(async move {
            let _held = held;
            std::future::pending::<()>().await
        });
        // Dropped, as the wait of a request whose client left: the task is aborted, which drops what it
        // held, and the channel closes without a value.
        drop(waiting);
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), gone).await;
        assert!(matches!(closed, Ok(Err(_))), "the task was aborted: {closed:?}");
    }
}
