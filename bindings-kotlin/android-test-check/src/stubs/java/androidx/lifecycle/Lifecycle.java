// Compile-time stand-in for androidx.lifecycle.Lifecycle (Google's Maven). Never run.
package androidx.lifecycle;

public abstract class Lifecycle {
    public enum State { DESTROYED, INITIALIZED, CREATED, STARTED, RESUMED }
}
