//! The runner: plays one row's step in a fresh world, then compares the outcome, the session
//! state, the store and the row's checks with what the row expects.

use std::collections::BTreeSet;
use std::time::Duration;

use keyfob::SecureStorage;

use crate::row::{Outcome, Row, Step, Stored};
use crate::world::Ctx;

/// Plays the row's step: the set-up, the misbehaviour switched on at its moment, the call.
async fn run_step(row: &Row, ctx: &Ctx) -> keyfob::Result<()> {
    let setup = || {
        if let Some(s) = &row.setup {
            s(&ctx.env)
        }
    };
    match &row.step {
        Step::BeginLogin => {
            ctx.mark();
            setup();
            ctx.begin().await.map(|_| ())
        }
        Step::Callback => {
            ctx.mark();
            setup();
            let url = ctx.begin().await?;
            let mut callback = ctx.browse(&url).await;
            if let Some(rewrite) = row.rewrite {
                callback = rewrite(&callback);
            }
            ctx.client().handle_redirect(&callback).await.map(|_| ())
        }
        Step::Exchange => {
            let url = ctx.begin().await?;
            let callback = ctx.browse(&url).await;
            ctx.mark();
            setup();
            ctx.client().handle_redirect(&callback).await.map(|_| ())
        }
        Step::Refresh => {
            ctx.login().await;
            ctx.mark();
            setup();
            ctx.client().refresh().await.map(|_| ())
        }
        Step::Userinfo => {
            ctx.login().await;
            ctx.mark();
            setup();
            ctx.client().userinfo().await.map(|_| ())
        }
        Step::RestoreSession(mutate) => {
            ctx.login().await;
            let stored = ctx.storage.get("session").unwrap();
            ctx.storage.inner.save("session", &mutate(&stored)).unwrap();
            ctx.mark();
            ctx.restart();
            ctx.client().restore().map(|_| ())
        }
        Step::RestorePending(mutate) => {
            let url = ctx.begin().await?;
            let callback = ctx.browse(&url).await;
            let stored = ctx.storage.get("pending").unwrap();
            ctx.storage.inner.save("pending", &mutate(&stored)).unwrap();
            ctx.mark();
            ctx.restart();
            ctx.client().handle_redirect(&callback).await.map(|_| ())
        }
        Step::Custom(f) => f(ctx).await,
    }
}

/// What one row did: the verdict's material, and what the leak check must search.
pub(crate) struct Report {
    pub(crate) id: &'static str,
    pub(crate) case: &'static str,
    pub(crate) expected: String,
    pub(crate) got: String,
    pub(crate) problems: Vec<String>,
    pub(crate) known_bug: Option<&'static str>,
    pub(crate) printed: Vec<String>,
    pub(crate) secrets: BTreeSet<String>,
}

/// An outcome as the report table shows it.
fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Ok => "Ok".into(),
        Outcome::Err {
            kind,
            check,
            retryable,
            storage,
        } => {
            let mut s = format!("{kind:?}");
            if let Some(c) = check {
                s.push_str(&format!("/{c:?}"));
            }
            if let Some(k) = storage {
                s.push_str(&format!("/{k:?}"));
            }
            if *retryable {
                s.push_str(" (retryable)");
            }
            s
        }
    }
}

/// The outcome of what the step returned.
fn observed(result: &keyfob::Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Ok,
        Err(e) => Outcome::Err {
            kind: e.kind(),
            check: e.id_token_check(),
            retryable: e.is_retryable(),
            storage: e.storage_kind(),
        },
    }
}

/// Runs one row in a fresh world and reports what it found.
pub(crate) async fn run_row(row: &Row) -> Report {
    let ctx = Ctx::new(row.timeout).await;
    let result = tokio::time::timeout(Duration::from_secs(60), run_step(row, &ctx))
        .await
        .unwrap_or_else(|_| panic!("row {} hung", row.id));
    let mut problems = Vec::new();
    if let Err(e) = &result {
        ctx.print_error(e);
        *ctx.last_error.lock().unwrap() = Some(e.clone());
    }
    let got = observed(&result);
    if got != row.outcome {
        problems.push(format!(
            "outcome {} ({}), expected {}",
            describe(&got),
            result
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
            describe(&row.outcome)
        ));
    }
    let client = ctx.client();
    let state = client.state();
    ctx.print(format!("{state:?}"));
    ctx.print(format!("{:?}", client.tokens()));
    ctx.print(format!("{:?}", client.claims()));
    if state != row.state {
        problems.push(format!("state {state:?}, expected {:?}", row.state));
    }
    let now = ctx.snapshot();
    let stored_ok = match row.stored {
        Stored::Nothing => now.session.is_none() && now.pending.is_none(),
        Stored::PendingOnly => now.session.is_none() && now.pending.is_some(),
        Stored::Session => now.session.is_some() && now.pending.is_none(),
        Stored::Unchanged => Some(&now) == ctx.before.lock().unwrap().as_ref(),
    };
    if !stored_ok {
        problems.push(format!(
            "store holds session: {}, pending: {}; expected {:?}",
            now.session.is_some(),
            now.pending.is_some(),
            row.stored
        ));
    }
    for (what, check) in &row.checks {
        if let Err(e) = check(&ctx) {
            problems.push(format!("{what}: {e}"));
        }
    }
    if problems.is_empty()
        && let Some(then) = row.then
        && let Err(e) = then(&ctx).await
    {
        problems.push(format!("afterwards: {e}"));
    }
    let printed = ctx.printed.lock().unwrap().clone();
    let secrets = ctx.seen.secrets.lock().unwrap().clone();
    Report {
        id: row.id,
        case: row.case,
        expected: format!(
            "{} → {:?}, store {:?}",
            describe(&row.outcome),
            row.state,
            row.stored
        ),
        got: describe(&got),
        problems,
        known_bug: row.known_bug,
        printed,
        secrets,
    }
}
