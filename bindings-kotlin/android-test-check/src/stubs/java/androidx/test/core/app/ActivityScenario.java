// Compile-time stand-in (androidx.test:core lives on Google's Maven, unreachable here): the
// signatures the instrumented tests use, as androidx.test 1.7 declares them. Never run.
package androidx.test.core.app;

public final class ActivityScenario<A extends android.app.Activity> implements AutoCloseable {
    public interface ActivityAction<A extends android.app.Activity> {
        void perform(A activity);
    }

    public static <A extends android.app.Activity> ActivityScenario<A> launch(Class<A> activityClass) {
        throw new UnsupportedOperationException("stub");
    }

    public ActivityScenario<A> onActivity(ActivityAction<A> action) {
        throw new UnsupportedOperationException("stub");
    }

    public androidx.lifecycle.Lifecycle.State getState() {
        throw new UnsupportedOperationException("stub");
    }

    @Override
    public void close() {
        throw new UnsupportedOperationException("stub");
    }
}
