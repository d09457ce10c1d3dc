// Compile-time stand-in (androidx.test.uiautomator 2.3, Google's Maven). Never run.
package androidx.test.uiautomator;

public class UiObject2 {
    public void click() {
        throw new UnsupportedOperationException("stub");
    }
}
