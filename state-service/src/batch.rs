//! Group commit: concurrent `Evaluate` requests are queued on a few writer lanes; each lane takes
//! what has queued up while its previous batch was committing (at most
//! [`GroupCommit::max_batch`]) and hands it to [`Store::evaluate_batch`](crate::store::Store):
//! one transaction, one commit (one fsync) for the whole batch.
//!
//! Guarantees: a request is answered only after the commit of its batch; a failed batch fails
//! every request in it (none of them is written, so a retry with the same request id counts
//! once); an operator always maps to the same lane, so one replica applies an operator's requests
//! in arrival order, and requests of one operator in one batch see each other's effects (the
//! store evaluates them one after the other inside the transaction). No delay is added: an idle
//! lane commits a lone request at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::engine::Evaluation;
use crate::store::{operator_lock_key, Evaluated, StoreError};

/// Group-commit settings (`serve --group-commit-max`, `--group-commit-writers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupCommit {
    /// Most requests in one transaction; 1 = one transaction per request.
    pub max_batch: usize,
    /// Writer lanes (batches in flight at once); 0 = by store: 1 on SQLite (one writer at a
    /// time anyway), [`POSTGRES_WRITERS`] on PostgreSQL.
    pub writers: usize,
}

/// Writer lanes on PostgreSQL when [`GroupCommit::writers`] is 0.
pub const POSTGRES_WRITERS: usize = 12;

impl Default for GroupCommit {
    fn default() -> Self {
        GroupCommit {
            max_batch: 64,
            writers: 0,
        }
    }
}

impl GroupCommit {
    /// The number of lanes for a store of `kind` (`sqlite` or `postgres`).
    pub fn lanes(&self, kind: &str) -> usize {
        match (self.writers, kind) {
            (0, "sqlite") => 1,
            (0, _) => POSTGRES_WRITERS,
            (n, _) => n,
        }
    }
}

/// A boxed batch result future.
pub type BatchFuture = Pin<Box<dyn Future<Output = Result<Vec<Evaluated>, StoreError>> + Send>>;

/// What a lane runs for one batch (the store's `evaluate_batch`; a stub in tests).
pub type BatchFn = Arc<dyn Fn(Vec<Evaluation>) -> BatchFuture + Send + Sync>;

struct Job {
    eval: Evaluation,
    reply: oneshot::Sender<Result<Evaluated, StoreError>>,
}

/// The writer lanes.
pub struct Batcher {
    lanes: Vec<mpsc::Sender<Job>>,
}

impl Batcher {
    /// Starts `lanes` writer tasks (on the current Tokio runtime) running `run` per batch.
    pub fn spawn(lanes: usize, max_batch: usize, run: BatchFn) -> Batcher {
        let max_batch = max_batch.max(1);
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (tx, rx) = mpsc::channel(max_batch.saturating_mul(4).max(256));
                tokio::spawn(lane(rx, max_batch, run.clone()));
                tx
            })
            .collect();
        Batcher { lanes }
    }

    /// Queues one evaluation and waits for the commit of its batch.
    pub async fn evaluate(&self, eval: Evaluation) -> Result<Evaluated, StoreError> {
        let n = u64::try_from(self.lanes.len()).unwrap_or(1).max(1);
        let key = u64::from_ne_bytes(operator_lock_key(&eval.subject.operator).to_ne_bytes());
        let lane = usize::try_from(key % n).unwrap_or(0);
        let sender = self.lanes.get(lane).ok_or(StoreError::Stopped)?;
        let (reply, answer) = oneshot::channel();
        sender
            .send(Job { eval, reply })
            .await
            .map_err(|_| StoreError::Stopped)?;
        answer.await.map_err(|_| StoreError::Stopped)?
    }
}

/// One lane: takes the first queued job, then whatever else has queued (up to `max_batch`),
/// runs the batch in its own task (a panic fails the batch, not the lane) and answers every job.
async fn lane(mut rx: mpsc::Receiver<Job>, max_batch: usize, run: BatchFn) {
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        let (evals, replies): (Vec<Evaluation>, Vec<_>) =
            jobs.into_iter().map(|j| (j.eval, j.reply)).unzip();
        let n = evals.len();
        let result = match tokio::spawn(run(evals)).await {
            Ok(Ok(results)) if results.len() == n => Ok(results),
            Ok(Ok(results)) => Err(StoreError::Corrupt(format!(
                "batch of {n} answered {} results",
                results.len()
            ))),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(StoreError::Corrupt(format!("batch task failed: {e}"))),
        };
        match result {
            Ok(results) => {
                for (reply, r) in replies.into_iter().zip(results) {
                    let _ = reply.send(Ok(r));
                }
            }
            Err(e) => {
                tracing::debug!(batch = n, error = %e, "group commit failed");
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Batch(e.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::engine::{Subject, Verdict};

    fn eval(op: &str, req: &str) -> Evaluation {
        Evaluation {
            subject: Subject {
                operator: op.into(),
                ..Subject::default()
            },
            request_id: req.into(),
            ..Evaluation::default()
        }
    }

    fn evaluated(e: &Evaluation) -> Evaluated {
        Evaluated {
            verdict: Verdict {
                reasons: vec![e.request_id.clone()],
                ..Verdict::default()
            },
            inserted: 1,
            retried: false,
            conflict: false,
        }
    }

    /// A stub store: records every batch it is given; fails a batch holding request `fail`,
    /// after a pause so that requests queue up behind the first one.
    fn stub(seen: Arc<Mutex<Vec<Vec<String>>>>) -> BatchFn {
        Arc::new(move |evals: Vec<Evaluation>| {
            let seen = seen.clone();
            Box::pin(async move {
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                let ids: Vec<String> = evals.iter().map(|e| e.request_id.clone()).collect();
                seen.lock().unwrap().push(ids.clone());
                if ids.iter().any(|i| i.starts_with("fail")) {
                    return Err(StoreError::Corrupt("injected".into()));
                }
                Ok(evals.iter().map(evaluated).collect())
            })
        })
    }

    #[tokio::test]
    async fn concurrent_requests_share_a_batch_and_get_their_own_answer() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let b = Arc::new(Batcher::spawn(1, 64, stub(seen.clone())));
        let mut tasks = Vec::new();
        for i in 0..10 {
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                b.evaluate(eval("op", &format!("r{i}"))).await
            }));
            tokio::task::yield_now().await;
        }
        for (i, t) in tasks.into_iter().enumerate() {
            let r = t.await.unwrap().unwrap();
            assert_eq!(r.verdict.reasons, vec![format!("r{i}")]);
        }
        let seen = seen.lock().unwrap();
        // the first request went alone (idle lane: no added delay), the rest queued behind it
        // and were committed together, in arrival order
        assert_eq!(seen[0], vec!["r0".to_string()]);
        assert!(seen.len() < 10, "{seen:?}");
        let order: Vec<String> = seen.iter().flatten().cloned().collect();
        assert_eq!(order, (0..10).map(|i| format!("r{i}")).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn a_failed_batch_fails_every_request_in_it_and_only_those() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let b = Arc::new(Batcher::spawn(1, 64, stub(seen.clone())));
        let first = {
            let b = b.clone();
            tokio::spawn(async move { b.evaluate(eval("op", "ok-0")).await })
        };
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // these three queue while ok-0 commits, and go in one batch that fails
        let mut queued = Vec::new();
        for id in ["ok-1", "fail-2", "ok-3"] {
            let b = b.clone();
            queued.push(tokio::spawn(
                async move { b.evaluate(eval("op", id)).await },
            ));
            tokio::task::yield_now().await;
        }
        assert!(first.await.unwrap().is_ok());
        for t in queued {
            let e = t.await.unwrap().unwrap_err();
            assert!(matches!(e, StoreError::Batch(_)), "{e:?}");
            assert!(e.to_string().contains("injected"), "{e}");
        }
        // the lane keeps serving after a failed batch
        assert!(b.evaluate(eval("op", "ok-4")).await.is_ok());
        let seen = seen.lock().unwrap();
        assert_eq!(seen[1], vec!["ok-1", "fail-2", "ok-3"]);
    }

    #[tokio::test]
    async fn a_panicking_batch_fails_its_requests_not_the_lane() {
        let calls = Arc::new(Mutex::new(0));
        let c = calls.clone();
        let run: BatchFn = Arc::new(move |evals: Vec<Evaluation>| {
            let c = c.clone();
            Box::pin(async move {
                let n = {
                    let mut n = c.lock().unwrap();
                    *n += 1;
                    *n
                };
                if n == 1 {
                    panic!("boom");
                }
                Ok(evals.iter().map(evaluated).collect())
            })
        });
        let b = Batcher::spawn(1, 8, run);
        assert!(b.evaluate(eval("op", "a")).await.is_err());
        assert!(b.evaluate(eval("op", "b")).await.is_ok());
    }

    #[test]
    fn lanes_by_store() {
        let g = GroupCommit::default();
        assert_eq!(g.lanes("sqlite"), 1);
        assert_eq!(g.lanes("postgres"), POSTGRES_WRITERS);
        let g = GroupCommit {
            max_batch: 1,
            writers: 2,
        };
        assert_eq!(g.lanes("sqlite"), 2);
    }
}
