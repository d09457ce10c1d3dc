// Compile-time stand-in for androidx.annotation.RequiresApi (Google's repository is not reachable
// here). Used only by the android-check compile; the AAR gets the real annotation as a
// compileOnly dependency. Same shape and retention as the real one.
package androidx.annotation

@Retention(AnnotationRetention.BINARY)
@Target(
    AnnotationTarget.TYPE,
    AnnotationTarget.FUNCTION,
    AnnotationTarget.PROPERTY_GETTER,
    AnnotationTarget.PROPERTY_SETTER,
    AnnotationTarget.CONSTRUCTOR,
    AnnotationTarget.FIELD,
    AnnotationTarget.FILE,
    AnnotationTarget.CLASS,
)
annotation class RequiresApi(val value: Int = 1, val api: Int = 1)
