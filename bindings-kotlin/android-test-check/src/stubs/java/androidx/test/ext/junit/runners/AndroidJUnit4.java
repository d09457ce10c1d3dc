// Compile-time stand-in for androidx.test.ext:junit's runner (Google's Maven). Never run.
package androidx.test.ext.junit.runners;

public final class AndroidJUnit4 extends org.junit.runner.Runner {
    public AndroidJUnit4(Class<?> testClass) {
    }

    @Override
    public org.junit.runner.Description getDescription() {
        throw new UnsupportedOperationException("stub");
    }

    @Override
    public void run(org.junit.runner.notification.RunNotifier notifier) {
        throw new UnsupportedOperationException("stub");
    }
}
