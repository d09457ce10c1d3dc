// Compile-time stand-in (androidx.test.uiautomator 2.3, Google's Maven). Never run.
package androidx.test.uiautomator;

public class UiDevice {
    public static UiDevice getInstance(android.app.Instrumentation instrumentation) {
        throw new UnsupportedOperationException("stub");
    }

    public <R> R wait(SearchCondition<R> condition, long timeout) {
        throw new UnsupportedOperationException("stub");
    }

    public boolean hasObject(BySelector selector) {
        throw new UnsupportedOperationException("stub");
    }

    public UiObject2 findObject(BySelector selector) {
        throw new UnsupportedOperationException("stub");
    }
}
