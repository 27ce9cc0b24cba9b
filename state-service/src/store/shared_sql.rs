//! The admin and retention methods of [`Store`](super::Store), written once in SQL both
//! databases accept (`$n` parameters, `CAST(… AS BIGINT)`, no dialect functions) and expanded
//! into each backend's `impl Store` by [`admin_methods!`]. The backends differ only in the pool
//! type, so the contract suite checks one query text against two engines.

/// The columns of an approval, in the order [`approval_from_row!`] reads them.
macro_rules! approval_select {
    ($rest:literal) => {
        concat!(
            "SELECT operator_id, id, session_id, request_id, call_id, tool, args_digest, status, \
             created_at_ms, policy_version, expires_at_ms, decided_at_ms, decided_by, \
             decision_note, arguments FROM approvals ",
            $rest
        )
    };
}

/// Decodes a row of [`approval_select!`].
macro_rules! approval_from_row {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, $crate::store::StoreError>($crate::store::Approval {
            operator: r.try_get(0)?,
            id: r.try_get(1)?,
            session_id: r.try_get(2)?,
            request_id: r.try_get(3)?,
            call_id: r.try_get(4)?,
            tool: r.try_get(5)?,
            args_digest: r.try_get(6)?,
            status: r.try_get(7)?,
            created_at_ms: r.try_get(8)?,
            policy_version: r.try_get(9)?,
            expires_at_ms: r.try_get(10)?,
            decided_at_ms: r.try_get(11)?,
            decided_by: r.try_get(12)?,
            note: r.try_get(13)?,
            arguments: r.try_get(14)?,
        })
    }};
}

/// Decodes a session row: operator, session, tenant, max phase, events, first and last seen.
macro_rules! session_from_row {
    ($r:expr) => {{
        let r = $r;
        let phase: i64 = r.try_get(3)?;
        Ok::<_, $crate::store::StoreError>($crate::store::SessionRow {
            operator: r.try_get(0)?,
            session: r.try_get(1)?,
            tenant: r.try_get(2)?,
            max_phase: $crate::engine::Phase::from_number(phase),
            event_count: r.try_get(4)?,
            first_seen_ms: r.try_get(5)?,
            last_seen_ms: r.try_get(6)?,
        })
    }};
}

/// The columns of a session, in the order [`session_from_row!`] reads them.
macro_rules! session_select {
    ($rest:literal) => {
        concat!(
            "SELECT operator_id, session_id, tenant, CAST(max_phase AS BIGINT), event_count, \
             first_seen_ms, last_seen_ms FROM sessions ",
            $rest
        )
    };
}

/// An operator profile with its session and event counts, in the order `operator_from_row`
/// reads them.
macro_rules! operator_select {
    ($rest:literal) => {
        concat!(
            "SELECT o.operator_id, CAST(o.phases_mask AS BIGINT), o.latent_log, \
             o.first_seen_ms, o.last_seen_ms, \
             (SELECT COUNT(*) FROM sessions s WHERE s.operator_id = o.operator_id), \
             (SELECT CAST(COALESCE(SUM(s.event_count), 0) AS BIGINT) FROM sessions s \
              WHERE s.operator_id = o.operator_id) \
             FROM operators o ",
            $rest
        )
    };
}

/// The columns of an event summary, in the order [`event_from_row!`] reads them.
macro_rules! event_select {
    ($rest:literal) => {
        concat!(
            "SELECT session_id, request_id, call_id, observed_at_ms, tool, \
             CAST(phase AS BIGINT), targets, action, risk, reasons, approval_id, args_digest, \
             category FROM events ",
            $rest
        )
    };
}

/// Decodes a row of [`event_select!`].
macro_rules! event_from_row {
    ($r:expr) => {{
        let r = $r;
        let targets: String = r.try_get(6)?;
        let reasons: String = r.try_get(9)?;
        Ok::<_, $crate::store::StoreError>($crate::store::EventSummary {
            session: r.try_get(0)?,
            request_id: r.try_get(1)?,
            call_id: r.try_get(2)?,
            observed_at_ms: r.try_get(3)?,
            tool: r.try_get(4)?,
            phase: r.try_get(5)?,
            targets: serde_json::from_str(&targets)
                .map_err(|e| StoreError::Corrupt(format!("targets: {e}")))?,
            action: r.try_get(7)?,
            risk: r.try_get(8)?,
            reasons: serde_json::from_str(&reasons)
                .map_err(|e| StoreError::Corrupt(format!("reasons: {e}")))?,
            approval_id: r.try_get(10)?,
            args_digest: r.try_get(11)?,
            category: r.try_get(12)?,
        })
    }};
}

/// The stored events of a request, in request order, read on `$conn` (both stores'
/// `request_on`).
macro_rules! request_events {
    ($conn:expr, $operator:expr, $request_id:expr) => {{
        let rows = sqlx::query(
            "SELECT call_id, tool, CAST(phase AS BIGINT), targets, action, risk, reasons, \
             approval_id, request_digest FROM events WHERE operator_id = $1 AND request_id = $2 \
             ORDER BY event_index",
        )
        .bind($operator)
        .bind($request_id)
        .fetch_all(&mut *$conn)
        .await?;
        rows.iter()
            .map(|r| {
                let phase: i64 = r.try_get(2)?;
                let targets: String = r.try_get(3)?;
                let action: String = r.try_get(4)?;
                let reasons: String = r.try_get(6)?;
                $crate::store::decode_event(
                    r.try_get(0)?,
                    r.try_get(1)?,
                    phase,
                    &targets,
                    &action,
                    r.try_get(5)?,
                    &reasons,
                    r.try_get(7)?,
                    r.try_get(8)?,
                )
            })
            .collect()
    }};
}

/// A case-insensitive substring `LIKE` pattern (escape character `!`) of a search term.
pub(crate) fn like_pattern(search: &str) -> String {
    let mut out = String::with_capacity(search.len() + 2);
    out.push('%');
    for c in search.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Tables cleared by an operator reset, with the outcome field each count goes to.
pub(crate) const RESET_TABLES: [&str; 6] = [
    "DELETE FROM events WHERE operator_id = $1",
    "DELETE FROM sessions WHERE operator_id = $1",
    "DELETE FROM operator_targets WHERE operator_id = $1",
    "DELETE FROM campaign_edges WHERE operator_id = $1",
    "DELETE FROM budget_counters WHERE operator_id = $1",
    "DELETE FROM operators WHERE operator_id = $1",
];

pub(crate) const INSERT_AUDIT: &str = "INSERT INTO audit_log (at_ms, actor, action, operator_id, \
     subject, note, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Expands to the admin and retention methods of `impl Store for …` (inside the impl block).
macro_rules! admin_methods {
    () => {
        fn session<'a>(
            &'a self,
            operator: &'a str,
            session: &'a str,
        ) -> StoreFuture<'a, Option<SessionRow>> {
            Box::pin(async move {
                let row = sqlx::query(session_select!(
                    "WHERE operator_id = $1 AND session_id = $2"
                ))
                    .bind(operator)
                    .bind(session)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| session_from_row!(&r)).transpose()
            })
        }

        fn sessions<'a>(
            &'a self,
            filter: super::SessionFilter<'a>,
            page: super::Page,
        ) -> StoreFuture<'a, Vec<SessionRow>> {
            Box::pin(async move {
                let rows = sqlx::query(session_select!(
                    "WHERE ($1 IS NULL OR operator_id = $1) AND ($2 IS NULL OR session_id = $2) \
                     ORDER BY last_seen_ms DESC, operator_id, session_id LIMIT $3 OFFSET $4"
                ))
                    .bind(filter.operator)
                    .bind(filter.session)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| session_from_row!(r)).collect()
            })
        }

        fn session_events<'a>(
            &'a self,
            operator: &'a str,
            session: &'a str,
            limit: i64,
        ) -> StoreFuture<'a, Vec<super::EventSummary>> {
            Box::pin(async move {
                let rows = sqlx::query(event_select!(
                    "WHERE operator_id = $1 AND session_id = $2 \
                     ORDER BY observed_at_ms DESC, event_index DESC LIMIT $3"
                ))
                .bind(operator)
                .bind(session)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| event_from_row!(r)).collect()
            })
        }

        fn operator_events<'a>(
            &'a self,
            operator: &'a str,
            limit: i64,
        ) -> StoreFuture<'a, Vec<super::EventSummary>> {
            Box::pin(async move {
                let rows = sqlx::query(event_select!(
                    "WHERE operator_id = $1 \
                     ORDER BY observed_at_ms DESC, session_id, event_index DESC LIMIT $2"
                ))
                .bind(operator)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| event_from_row!(r)).collect()
            })
        }

        fn action_counts<'a>(
            &'a self,
            since_ms: i64,
            until_ms: i64,
            bucket_ms: i64,
        ) -> StoreFuture<'a, Vec<super::ActionCount>> {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT CAST((observed_at_ms - $1) / $3 AS BIGINT) AS b, action, \
                     CAST(COUNT(*) AS BIGINT) FROM events \
                     WHERE observed_at_ms >= $1 AND observed_at_ms < $2 \
                     GROUP BY b, action ORDER BY b, action",
                )
                .bind(since_ms)
                .bind(until_ms)
                .bind(bucket_ms.max(1))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        let b: i64 = r.try_get(0)?;
                        Ok(super::ActionCount {
                            bucket_ms: since_ms + b * bucket_ms.max(1),
                            action: r.try_get(1)?,
                            count: r.try_get(2)?,
                        })
                    })
                    .collect()
            })
        }

        fn operators<'a>(
            &'a self,
            search: Option<&'a str>,
            page: super::Page,
        ) -> StoreFuture<'a, Vec<super::OperatorRow>> {
            Box::pin(async move {
                let pattern = search.map(super::shared_sql::like_pattern);
                let rows = sqlx::query(operator_select!(
                    "WHERE ($1 IS NULL OR LOWER(o.operator_id) LIKE $1 ESCAPE '!') \
                     ORDER BY o.last_seen_ms DESC, o.operator_id LIMIT $2 OFFSET $3"
                ))
                    .bind(pattern)
                    .bind(page.limit)
                    .bind(page.offset)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| operator_from_row(r)).collect()
            })
        }

        fn operator<'a>(
            &'a self,
            operator: &'a str,
        ) -> StoreFuture<'a, Option<super::OperatorRow>> {
            Box::pin(async move {
                let row = sqlx::query(operator_select!("WHERE o.operator_id = $1"))
                    .bind(operator)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| operator_from_row(&r)).transpose()
            })
        }

        fn budget_use<'a>(
            &'a self,
            cfg: &'a EngineConfig,
            operator: &'a str,
            at_ms: i64,
        ) -> StoreFuture<'a, Vec<crate::engine::BudgetUse>> {
            Box::pin(async move {
                let mut out = Vec::with_capacity(cfg.budgets.len());
                for b in &cfg.budgets {
                    let used: i64 = sqlx::query_scalar(
                        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM budget_counters \
                         WHERE operator_id = $1 AND budget = $2 AND bucket_ms >= $3 \
                         AND bucket_ms <= $4",
                    )
                    .bind(operator)
                    .bind(&b.name)
                    .bind(b.window_start_bucket(at_ms))
                    .bind(at_ms)
                    .fetch_one(&self.pool)
                    .await?;
                    out.push(crate::engine::BudgetUse {
                        name: b.name.clone(),
                        used: u32::try_from(used).unwrap_or(u32::MAX),
                        limit: b.limit,
                    });
                }
                Ok(out)
            })
        }

        fn approvals<'a>(&'a self, operator: &'a str) -> StoreFuture<'a, Vec<Approval>> {
            Box::pin(async move {
                let rows = sqlx::query(approval_select!(
                    "WHERE operator_id = $1 ORDER BY created_at_ms, id"
                ))
                .bind(operator)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| approval_from_row!(r)).collect()
            })
        }

        fn list_approvals<'a>(
            &'a self,
            status: Option<&'a str>,
            operator: Option<&'a str>,
            page: super::Page,
        ) -> StoreFuture<'a, Vec<Approval>> {
            Box::pin(async move {
                let rows = sqlx::query(approval_select!(
                    "WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR operator_id = $2) \
                     ORDER BY created_at_ms DESC, id LIMIT $3 OFFSET $4"
                ))
                .bind(status)
                .bind(operator)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| approval_from_row!(r)).collect()
            })
        }

        fn approval<'a>(&'a self, id: &'a str) -> StoreFuture<'a, Option<Approval>> {
            Box::pin(async move {
                let row = sqlx::query(approval_select!(
                    "WHERE id = $1 ORDER BY operator_id LIMIT 1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| approval_from_row!(&r)).transpose()
            })
        }

        fn decide<'a>(
            &'a self,
            id: &'a str,
            decision: &'a super::Decision,
        ) -> StoreFuture<'a, super::DecideOutcome> {
            Box::pin(async move {
                let status = if decision.approve { "approved" } else { "denied" };
                let mut tx = self.pool.begin().await?;
                let n = sqlx::query(
                    "UPDATE approvals SET status = $1, decided_at_ms = $2, decided_by = $3, \
                     decision_note = $4 WHERE id = $5 AND status = 'pending'",
                )
                .bind(status)
                .bind(decision.at_ms)
                .bind(&decision.by)
                .bind(&decision.note)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                let row = sqlx::query(approval_select!(
                    "WHERE id = $1 ORDER BY operator_id LIMIT 1"
                ))
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(row) = row else {
                    return Ok(super::DecideOutcome::Unknown);
                };
                let approval = approval_from_row!(&row)?;
                if n == 0 {
                    return Ok(super::DecideOutcome::NotPending(approval));
                }
                let detail = serde_json::json!({
                    "status": status,
                    "session": approval.session_id,
                    "tool": approval.tool,
                })
                .to_string();
                sqlx::query(super::shared_sql::INSERT_AUDIT)
                    .bind(decision.at_ms)
                    .bind(&decision.by)
                    .bind(if decision.approve { "approve" } else { "deny" })
                    .bind(&approval.operator)
                    .bind(id)
                    .bind(&decision.note)
                    .bind(detail)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(super::DecideOutcome::Decided(approval))
            })
        }

        fn reset_operator<'a>(
            &'a self,
            operator: &'a str,
            actor: &'a super::Actor,
        ) -> StoreFuture<'a, super::ResetOutcome> {
            Box::pin(async move {
                let mut tx = self.pool.begin().await?;
                let mut counts = [0u64; 6];
                for (sql, count) in super::shared_sql::RESET_TABLES.iter().zip(counts.iter_mut())
                {
                    *count = sqlx::query(sql)
                        .bind(operator)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                let [events, sessions, targets, pivots, budget_counters, operators] = counts;
                let outcome = super::ResetOutcome {
                    events,
                    sessions,
                    targets,
                    pivots,
                    budget_counters,
                    operators,
                };
                if !outcome.existed() {
                    return Ok(outcome);
                }
                let detail = serde_json::to_string(&outcome)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(super::shared_sql::INSERT_AUDIT)
                    .bind(actor.at_ms)
                    .bind(&actor.by)
                    .bind("reset_operator")
                    .bind(operator)
                    .bind(operator)
                    .bind(&actor.note)
                    .bind(detail)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(outcome)
            })
        }

        fn audit_log<'a>(
            &'a self,
            operator: Option<&'a str>,
            page: super::Page,
        ) -> StoreFuture<'a, Vec<super::AuditEntry>> {
            Box::pin(async move {
                let rows = sqlx::query(
                    "SELECT CAST(id AS BIGINT), at_ms, actor, action, operator_id, subject, note, \
                     detail FROM audit_log WHERE ($1 IS NULL OR operator_id = $1) \
                     ORDER BY id DESC LIMIT $2 OFFSET $3",
                )
                .bind(operator)
                .bind(page.limit)
                .bind(page.offset)
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(super::AuditEntry {
                            id: r.try_get(0)?,
                            at_ms: r.try_get(1)?,
                            actor: r.try_get(2)?,
                            action: r.try_get(3)?,
                            operator: r.try_get(4)?,
                            subject: r.try_get(5)?,
                            note: r.try_get(6)?,
                            detail: r.try_get(7)?,
                        })
                    })
                    .collect()
            })
        }

        fn prune<'a>(
            &'a self,
            events_before_ms: i64,
            counters_before_ms: i64,
        ) -> StoreFuture<'a, super::PruneOutcome> {
            Box::pin(async move {
                let events = sqlx::query("DELETE FROM events WHERE observed_at_ms < $1")
                    .bind(events_before_ms)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let budget_counters =
                    sqlx::query("DELETE FROM budget_counters WHERE bucket_ms < $1")
                        .bind(counters_before_ms)
                        .execute(&self.pool)
                        .await?
                        .rows_affected();
                Ok(super::PruneOutcome {
                    events,
                    budget_counters,
                })
            })
        }
    };
}

/// Decodes a row of the operator query (generic over the backend's row type).
macro_rules! operator_from_row_fn {
    ($row:ty) => {
        fn operator_from_row(r: &$row) -> Result<super::OperatorRow, StoreError> {
            let mask: i64 = r.try_get(1)?;
            Ok(super::OperatorRow {
                operator: r.try_get(0)?,
                phases: PhaseSet::from_mask(mask),
                latent_log: r.try_get(2)?,
                first_seen_ms: r.try_get(3)?,
                last_seen_ms: r.try_get(4)?,
                sessions: r.try_get(5)?,
                events: r.try_get(6)?,
            })
        }
    };
}
