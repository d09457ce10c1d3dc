// Compile-time stand-in (androidx.test.uiautomator 2.3, Google's Maven). Never run.
package androidx.test.uiautomator;

public class Until {
    public static SearchCondition<UiObject2> findObject(BySelector selector) {
        throw new UnsupportedOperationException("stub");
    }
}
