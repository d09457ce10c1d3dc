// Compile-time stand-in (androidx.test.uiautomator 2.3, Google's Maven). Never run.
package androidx.test.uiautomator;

public class By {
    public static BySelector text(String text) {
        throw new UnsupportedOperationException("stub");
    }

    public static BySelector textStartsWith(String text) {
        throw new UnsupportedOperationException("stub");
    }

    public static BySelector textContains(String text) {
        throw new UnsupportedOperationException("stub");
    }
}
