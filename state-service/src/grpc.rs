//! The tonic `StateService`: the request flow over the engine's proto edge
//! ([`crate::engine::proto`]), and the one table mapping service errors to gRPC status codes.

use std::sync::Arc;
use std::time::Instant;

use llmfw_api::grpc::state_service_server::StateService;
use llmfw_api::v1;
use tonic::{Request, Response, Status};

use crate::batch::{BatchFn, Batcher, GroupCommit};
use crate::engine::proto::{evaluation_from_proto, response_from_verdict, InvalidRequest};
use crate::engine::{EngineConfig, Evaluation, Verdict};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError};

/// Errors of the service; [`From<ServiceError> for Status`] is the only place they meet the wire.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed.
    #[error("{0}")]
    InvalidArgument(String),
    /// The store failed: the filter's failure mode applies.
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
}

impl From<ServiceError> for Status {
    fn from(e: ServiceError) -> Status {
        match &e {
            ServiceError::InvalidArgument(_) => Status::invalid_argument(e.to_string()),
            ServiceError::Store(_) => Status::unavailable(e.to_string()),
        }
    }
}

impl From<InvalidRequest> for ServiceError {
    fn from(e: InvalidRequest) -> ServiceError {
        ServiceError::InvalidArgument(e.0)
    }
}

/// The gRPC service.
#[derive(Clone)]
pub struct StateServer {
    store: Arc<dyn Store>,
    batcher: Arc<Batcher>,
    metrics: Arc<Metrics>,
}

impl StateServer {
    /// A service over `store`, committing concurrent evaluations in groups ([`crate::batch`]).
    /// Starts the writer tasks: call inside a Tokio runtime.
    pub fn new(
        store: Arc<dyn Store>,
        config: EngineConfig,
        metrics: Arc<Metrics>,
        group: GroupCommit,
    ) -> Self {
        let config = Arc::new(config);
        let batch_store = store.clone();
        let run: BatchFn = Arc::new(move |evals: Vec<Evaluation>| {
            let (store, config) = (batch_store.clone(), config.clone());
            Box::pin(async move { store.evaluate_batch(&config, &evals).await })
        });
        let batcher = Batcher::spawn(group.lanes(store.kind()), group.max_batch, run);
        StateServer {
            store,
            batcher: Arc::new(batcher),
            metrics,
        }
    }

    /// The reply to a failed call: the code from [`From<ServiceError> for Status`], with the
    /// store's kind in front of store failures (`postgres store unavailable: …`) so the caller's
    /// log says which dependency is down.
    fn status(&self, e: ServiceError) -> Status {
        let status = Status::from(e);
        if status.code() == tonic::Code::Unavailable {
            return Status::unavailable(format!("{} {}", self.store.kind(), status.message()));
        }
        status
    }

    /// The whole `Evaluate` flow: validate, then (in one group-commit batch) retry check,
    /// snapshot, engine, record; reply after the commit.
    pub async fn evaluate_request(
        &self,
        req: v1::EvaluateRequest,
    ) -> Result<Verdict, ServiceError> {
        let eval = evaluation_from_proto(req)?;
        if eval.events.is_empty() {
            return Ok(Verdict::default());
        }
        // retry check, snapshot, engine and write happen in the store, in the transaction of
        // the batch this request joins; the answer comes after its commit
        let request_id = eval.request_id.clone();
        let events = eval.events.len();
        let outcome = self.batcher.evaluate(eval).await?;
        if outcome.conflict {
            self.metrics.request_id_conflict();
            tracing::warn!(
                %request_id,
                events,
                retried = outcome.retried,
                "request id reused with other tool calls: refused"
            );
            return Ok(outcome.verdict);
        }
        if outcome.retried {
            tracing::debug!(%request_id, events, "retried request, answering stored verdict");
            return Ok(outcome.verdict);
        }
        let verdict = outcome.verdict;
        tracing::debug!(
            %request_id,
            events,
            inserted = outcome.inserted,
            action = verdict.action.as_str(),
            risk = verdict.risk,
            "evaluated"
        );
        Ok(verdict)
    }
}

#[tonic::async_trait]
impl StateService for StateServer {
    async fn evaluate(
        &self,
        request: Request<v1::EvaluateRequest>,
    ) -> Result<Response<v1::EvaluateResponse>, Status> {
        let started = Instant::now();
        let result = self.evaluate_request(request.into_inner()).await;
        self.metrics.observe(started.elapsed());
        match result {
            Ok(verdict) => {
                self.metrics.evaluation(verdict.action);
                Ok(Response::new(response_from_verdict(&verdict)))
            }
            Err(e) => {
                if matches!(e, ServiceError::Store(_)) {
                    self.metrics.store_error();
                    tracing::warn!(store = self.store.kind(), error = %e, "evaluate failed");
                }
                Err(self.status(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_requests_are_invalid_argument() {
        let r = v1::EvaluateRequest {
            subject: Some(v1::Subject {
                operator: " ".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let status: Status = ServiceError::from(evaluation_from_proto(r).unwrap_err()).into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(status.message().contains("subject.operator"));
    }

    #[test]
    fn store_errors_are_unavailable() {
        let status: Status = ServiceError::Store(StoreError::Corrupt("x".into())).into();
        assert_eq!(status.code(), tonic::Code::Unavailable);
        assert!(status.message().starts_with("store unavailable: "));
    }
}
