// The Android library's build (see keyfob/build.gradle.kts). AGP 9 compiles Kotlin itself; the
// Kotlin Gradle plugin on the classpath pins the compiler to the version the Maven build uses.
buildscript {
    repositories {
        google()
        mavenCentral()
    }
    dependencies {
        classpath(libs.kotlin.gradle.plugin)
    }
}

plugins {
    alias(libs.plugins.android.library) apply false
}
