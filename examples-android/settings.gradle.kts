// The Keyfob sample app. It builds the library from source (../bindings-kotlin/keyfob), so run
// scripts/build-android.sh --no-gradle once first (native libraries and generated bindings);
// see README.md.
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
    // One set of versions for the library and the sample.
    versionCatalogs {
        create("libs") {
            from(files("../bindings-kotlin/gradle/libs.versions.toml"))
        }
    }
}

rootProject.name = "keyfob-sample"
include(":app")
include(":keyfob")
project(":keyfob").projectDir = file("../bindings-kotlin/keyfob")
