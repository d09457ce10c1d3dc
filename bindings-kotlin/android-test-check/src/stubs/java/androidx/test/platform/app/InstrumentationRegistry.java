// Compile-time stand-in for androidx.test:monitor's registry (Google's Maven). Never run.
package androidx.test.platform.app;

public final class InstrumentationRegistry {
    public static android.app.Instrumentation getInstrumentation() {
        throw new UnsupportedOperationException("stub");
    }
}
