// The sample app's build. AGP 9 compiles Kotlin itself; the Kotlin Gradle plugin on the classpath
// pins the compiler to the library's (bindings-kotlin/gradle/libs.versions.toml).
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
    alias(libs.plugins.android.application) apply false
    alias(libs.plugins.android.library) apply false
}
