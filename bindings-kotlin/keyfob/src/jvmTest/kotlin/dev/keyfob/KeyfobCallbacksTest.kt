package dev.keyfob

import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.AfterEach
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.util.concurrent.CompletableFuture
import java.util.concurrent.Executor
import java.util.concurrent.Executors
import java.util.concurrent.ThreadFactory
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger

/** The callback API for Java callers: one answer per call, on the given executor, none after cancel. */
class KeyfobCallbacksTest {
    private val deliveries = AtomicInteger()
    private val thread = ThreadFactory { r -> Thread(r, "ui-thread").apply { isDaemon = true } }
    private val ui = Executors.newSingleThreadExecutor(thread)
    private val uiExecutor = Executor { command -> deliveries.incrementAndGet(); ui.execute(command) }

    @AfterEach
    fun stop() {
        ui.shutdownNow()
        Testkit.clearFaults()
    }

    /** The answer to one call, with the thread it came on. */
    private class Answer<T> : KeyfobCallback<T> {
        val result = CompletableFuture<Pair<Result<T>, String>>()
        override fun onSuccess(value: T) {
            result.complete(Result.success(value) to Thread.currentThread().name)
        }

        override fun onError(error: KeyfobException) {
            result.complete(Result.failure<T>(error) to Thread.currentThread().name)
        }

        fun get(): Pair<Result<T>, String> = result.get(30, TimeUnit.SECONDS)
    }

    @Test
    fun `a login and an access token answer on the executor`() {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val calls = KeyfobCallbacks(keyfob, uiExecutor)
            val login = Answer<Claims>()
            calls.login(FakeBrowser.signsIn(), callback = login)
            val (claims, thread) = login.get()
            assertEquals("user-123", claims.getOrThrow().subject)
            assertEquals("ui-thread", thread)

            val token = Answer<String>()
            calls.accessToken(token)
            assertEquals(runBlocking { keyfob.accessToken() }, token.get().first.getOrThrow())

            val refreshed = Answer<Void?>()
            calls.refresh(refreshed)
            assertNull(refreshed.get().first.getOrThrow())
        }
    }

    @Test
    fun `an access token with a minimum lifetime answers on the executor`() {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            runBlocking { keyfob.login(FakeBrowser.signsIn()) }
            val calls = KeyfobCallbacks(keyfob, uiExecutor)
            // The testkit's tokens live 300 s: a fresh one lasts a minute, none lasts an hour.
            val lasting = Answer<String>()
            calls.accessToken(60, lasting)
            val (token, thread) = lasting.get()
            assertEquals(runBlocking { keyfob.accessToken() }, token.getOrThrow())
            assertEquals("ui-thread", thread)

            val requests = Testkit.count("token")
            val tooLong = Answer<String>()
            calls.accessToken(3600, tooLong)
            val error = tooLong.get().first.exceptionOrNull()
            assertTrue(error is KeyfobException.MinTtlExceedsLifetime, "$error")
            assertEquals(requests, Testkit.count("token"), "no request for an unreachable minimum")
        }
    }

    @Test
    fun `a failure arrives as the typed KeyfobException`() {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val token = Answer<String>()
            KeyfobCallbacks(keyfob, uiExecutor).accessToken(token)
            val error = token.get().first.exceptionOrNull()
            assertTrue(error is KeyfobException.NotSignedIn, "$error")
            assertTrue((error as KeyfobException).requiresSignIn)
        }
    }

    @Test
    fun `a closed client answers with an Internal error instead of throwing on another thread`() {
        val keyfob = Keyfob(testConfig(), MapStorage())
        keyfob.close()
        val claims = Answer<Claims?>()
        KeyfobCallbacks(keyfob, uiExecutor).claims(claims)
        assertTrue(claims.get().first.exceptionOrNull() is KeyfobException.Internal)
    }

    @Test
    fun `a cancelled call never answers`() {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val never = java.util.concurrent.CountDownLatch(1)
            val calls = KeyfobCallbacks(keyfob, uiExecutor)
            val answer = Answer<Claims>()
            val call = calls.login(FakeBrowser { _, _ -> never.await(); BrowserOutcome.Closed }, callback = answer)
            call.cancel()
            never.countDown()
            // A later call is answered, the cancelled one never.
            val state = Answer<SessionState>()
            calls.restore(state)
            state.get()
            assertTrue(!answer.result.isDone, "no answer after cancel")
        }
    }

    @Test
    fun `state changes reach a listener until it is cancelled`() {
        Keyfob(testConfig(), MapStorage()).use { keyfob ->
            val seen = java.util.concurrent.LinkedBlockingQueue<SessionState>()
            val subscription = KeyfobCallbacks(keyfob, uiExecutor).observeState { seen.put(it) }
            while (seen.poll(10, TimeUnit.SECONDS) != SessionState.SIGNED_OUT) Unit
            runBlocking { keyfob.login(FakeBrowser.signsIn()) }
            while (seen.poll(10, TimeUnit.SECONDS) != SessionState.SIGNED_IN) Unit
            subscription.cancel()
            val before = deliveries.get()
            runBlocking { keyfob.logout() }
            // A call answered after the logout proves the collector had its chance to run.
            val claims = Answer<Claims?>()
            KeyfobCallbacks(keyfob, uiExecutor).claims(claims)
            assertNull(claims.get().first.getOrThrow())
            assertEquals(before + 1, deliveries.get(), "only the claims answer was delivered")
        }
    }
}
