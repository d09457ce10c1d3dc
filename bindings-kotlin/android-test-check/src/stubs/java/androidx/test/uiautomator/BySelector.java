// Compile-time stand-in (androidx.test.uiautomator 2.3, Google's Maven). Never run.
package androidx.test.uiautomator;

public class BySelector {
    public BySelector enabled(boolean isEnabled) {
        throw new UnsupportedOperationException("stub");
    }
}
