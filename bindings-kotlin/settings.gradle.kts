// The Android library (AAR). Built by scripts/build-android.sh after it has put the native
// libraries and the generated Kotlin in place; see README.md.
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "keyfob-android"
include(":keyfob")
