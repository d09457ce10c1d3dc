//! The custom steps (whole scenarios whose last call is the one under test) and the follow-up
//! checks that rows run once their step has failed as expected.

use keyfob::{ErrorKind, SessionState, StorageErrorKind};
use keyfob_testkit::Faults;
use serde_json::json;

use crate::common::FaultyStorage;
use crate::row::{BoxFut, TOKEN};
use crate::world::Ctx;

fn ok_or(cond: bool, message: impl Into<String>) -> Result<(), String> {
    cond.then_some(()).ok_or_else(|| message.into())
}

pub(crate) fn superseded_state(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        let first = ctx.begin().await?;
        let first_callback = ctx.browse(&first).await;
        ctx.begin().await?;
        ctx.client()
            .handle_redirect(&first_callback)
            .await
            .map(|_| ())
    })
}

pub(crate) fn replayed_callback(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        let url = ctx.begin().await?;
        let callback = ctx.browse(&url).await;
        ctx.client().handle_redirect(&callback).await?;
        ctx.mark();
        ctx.client().handle_redirect(&callback).await.map(|_| ())
    })
}

pub(crate) fn write_fails_at_begin(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_writes, true);
        ctx.begin().await.map(|_| ())
    })
}

pub(crate) fn write_fails_at_login(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        let url = ctx.begin().await?;
        let callback = ctx.browse(&url).await;
        FaultyStorage::set(&ctx.storage.fail_writes, true);
        ctx.client().handle_redirect(&callback).await.map(|_| ())
    })
}

pub(crate) fn then_login_saved_on_next_call(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        let client = ctx.client();
        ok_or(
            client.cached_access_token().is_none(),
            "unsaved tokens were handed out",
        )?;
        let e = client.access_token().await.err();
        ok_or(
            e.as_ref().and_then(keyfob::Error::storage_kind) == Some(StorageErrorKind::Failed),
            format!("access_token while writes fail: {e:?}"),
        )?;
        FaultyStorage::set(&ctx.storage.fail_writes, false);
        let token = client.access_token().await.map_err(|e| format!("{e:?}"))?;
        ctx.restart();
        let restored = ctx
            .client()
            .access_token()
            .await
            .map_err(|e| format!("{e:?}"))?;
        ok_or(
            restored == token,
            "the saved session is not the one in memory",
        )?;
        let s = ctx.env.kit.stats();
        ok_or(
            (s.authorization_code, s.refresh_token) == (1, 0),
            format!("token requests: {s:?}"),
        )
    })
}

pub(crate) fn write_fails_at_refresh(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        ctx.env.expire();
        FaultyStorage::set(&ctx.storage.fail_writes, true);
        ctx.client().access_token().await.map(|_| ())
    })
}

pub(crate) fn then_rotated_token_kept_and_saved(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        let client = ctx.client();
        // Writes still fail: no second refresh with the old (now dead) refresh token.
        let e = client.access_token().await.err();
        ok_or(
            e.as_ref().map(keyfob::Error::kind) == Some(ErrorKind::Storage),
            format!("second call while writes fail: {e:?}"),
        )?;
        let e = client.refresh().await.err();
        ok_or(
            e.as_ref().map(keyfob::Error::kind) == Some(ErrorKind::Storage),
            format!("explicit refresh while writes fail: {e:?}"),
        )?;
        ok_or(
            ctx.env.kit.stats().refresh_token == 1,
            "a second refresh was sent while the rotated token was unsaved",
        )?;
        FaultyStorage::set(&ctx.storage.fail_writes, false);
        client.access_token().await.map_err(|e| format!("{e:?}"))?;
        ok_or(ctx.env.kit.stats().refresh_token == 1, "refreshed again")?;
        ctx.restart();
        let rt = ctx
            .client()
            .tokens()
            .and_then(|t| t.refresh_token().cloned())
            .ok_or("no refresh token after the restart")?;
        ok_or(
            ctx.env.provider_accepts_refresh_token(rt.expose()).await,
            "the saved refresh token is not the rotated one",
        )
    })
}

pub(crate) fn then_logout_revokes_the_rotated_token(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        let client = ctx.client();
        let rotated = client
            .tokens()
            .and_then(|t| t.refresh_token().cloned())
            .ok_or("the rotated refresh token is not in memory")?;
        let outcome = client.logout().await.map_err(|e| format!("{e:?}"))?;
        ctx.print(format!("{outcome:?}"));
        ok_or(outcome.revocation_error.is_none(), "revocation failed")?;
        ok_or(
            !ctx.env
                .provider_accepts_refresh_token(rotated.expose())
                .await,
            "the rotated refresh token is still alive after logout",
        )?;
        ok_or(
            ctx.snapshot().session.is_none(),
            "the session is still stored",
        )
    })
}

pub(crate) fn read_fails_at_start(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        FaultyStorage::set(&ctx.storage.fail_reads, true);
        ctx.restart();
        ctx.client().access_token().await.map(|_| ())
    })
}

pub(crate) fn locked_at_start(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        FaultyStorage::set(&ctx.storage.unavailable, true);
        ctx.restart();
        ctx.client().access_token().await.map(|_| ())
    })
}

pub(crate) fn then_reads_recover_without_network(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_reads, false);
        FaultyStorage::set(&ctx.storage.unavailable, false);
        let before = ctx.env.kit.stats();
        ctx.client()
            .access_token()
            .await
            .map_err(|e| format!("{e:?}"))?;
        ok_or(
            ctx.client().state() == SessionState::SignedIn,
            "not signed in",
        )?;
        ok_or(ctx.env.kit.stats() == before, "restoring made a request")
    })
}

pub(crate) fn pending_read_fails(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        let url = ctx.begin().await?;
        let callback = ctx.browse(&url).await;
        *ctx.kept_callback.lock().unwrap() = Some(callback.clone());
        ctx.mark();
        FaultyStorage::set(&ctx.storage.fail_reads, true);
        ctx.restart();
        ctx.client().handle_redirect(&callback).await.map(|_| ())
    })
}

pub(crate) fn then_callback_completes_once_reads_work(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_reads, false);
        let callback = ctx
            .kept_callback
            .lock()
            .unwrap()
            .clone()
            .ok_or("no callback")?;
        ctx.client()
            .handle_redirect(&callback)
            .await
            .map_err(|e| format!("{e:?}"))?;
        ok_or(
            ctx.client().state() == SessionState::SignedIn,
            "not signed in",
        )
    })
}

pub(crate) fn key_invalidated_at_start(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        FaultyStorage::set(&ctx.storage.key_invalidated, true);
        ctx.restart();
        ctx.client().restore().map(|_| ())
    })
}

pub(crate) fn delete_fails_at_logout(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        FaultyStorage::set(&ctx.storage.fail_deletes, true);
        ctx.client().logout().await.map(|_| ())
    })
}

pub(crate) fn then_logout_again_clears(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_deletes, false);
        ctx.client().logout().await.map_err(|e| format!("{e:?}"))?;
        ok_or(ctx.snapshot().session.is_none(), "still stored")?;
        ctx.restart();
        ok_or(
            ctx.client().state() == SessionState::SignedOut,
            "the session came back",
        )
    })
}

pub(crate) fn delete_fails_at_invalid_grant(ctx: &Ctx) -> BoxFut<'_, keyfob::Result<()>> {
    Box::pin(async move {
        ctx.login().await;
        ctx.mark();
        ctx.env.kit.set_faults(Faults::oauth_error(
            TOKEN,
            json!({"error": "invalid_grant"}),
        ));
        FaultyStorage::set(&ctx.storage.fail_deletes, true);
        ctx.client().refresh().await.map(|_| ())
    })
}

pub(crate) fn then_dead_session_does_not_come_back(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        FaultyStorage::set(&ctx.storage.fail_deletes, false);
        let e = ctx.client().access_token().await.err();
        ok_or(
            e.as_ref().map(keyfob::Error::kind) == Some(ErrorKind::ReLoginRequired),
            format!("access_token after invalid_grant: {e:?}"),
        )?;
        ctx.restart();
        let state = ctx.client().state();
        ok_or(
            state != SessionState::SignedIn,
            format!("the rejected session came back at the next launch: {state:?}"),
        )
    })
}

pub(crate) fn then_salvaged_refresh_token_works(ctx: &Ctx) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        ctx.env.kit.clear_faults();
        // A restart first: the kept refresh token must have been saved, not only held in memory.
        ctx.restart();
        let client = ctx.client();
        let refreshed = client.refresh().await.map_err(|e| format!("{e:?}"))?;
        ok_or(
            ctx.env.kit.stats().refresh_token == 2,
            "expected exactly one more refresh grant",
        )?;
        ok_or(client.state() == SessionState::SignedIn, "not SignedIn")?;
        let rt = refreshed.refresh_token().ok_or("no refresh token")?;
        ok_or(
            ctx.env.provider_accepts_refresh_token(rt.expose()).await,
            "the provider refuses the refreshed token",
        )
    })
}

pub(crate) fn then_corruption_reported_once_and_login_works(
    ctx: &Ctx,
) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        let client = ctx.client();
        ok_or(
            client.restore().is_ok(),
            "the corruption was reported twice",
        )?;
        let e = client.access_token().await.err();
        ok_or(
            e.as_ref().map(keyfob::Error::kind) == Some(ErrorKind::NotSignedIn),
            format!("after the report: {e:?}"),
        )?;
        ctx.login().await;
        ok_or(
            ctx.client().state() == SessionState::SignedIn,
            "cannot sign in again",
        )
    })
}

pub(crate) fn then_new_login_replaces_a_corrupt_pending_one(
    ctx: &Ctx,
) -> BoxFut<'_, Result<(), String>> {
    Box::pin(async move {
        ctx.login().await;
        ok_or(
            ctx.client().state() == SessionState::SignedIn,
            "cannot sign in again",
        )
    })
}
