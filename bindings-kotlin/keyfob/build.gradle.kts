// The Keyfob Android library (AAR), published as dev.keyfob:keyfob-android: the uniffi-generated
// Kotlin (Android flavour), the Kotlin layer, and libkeyfob.so for each ABI.
// scripts/build-android.sh puts the generated sources in src/generated/kotlin and the libraries in
// src/main/jniLibs (both ignored by git), then runs :keyfob:assembleRelease (and, with --publish,
// :keyfob:publishToMavenLocal).
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.library)
    `maven-publish`
    signing
}

group = "dev.keyfob"
// The published version; a release passes -PkeyfobVersion=1.2.3.
version = providers.gradleProperty("keyfobVersion").getOrElse("0.1.0")

android {
    namespace = "dev.keyfob"
    compileSdk = libs.versions.compileSdk.get().toInt()

    defaultConfig {
        minSdk = libs.versions.minSdk.get().toInt()
        // Keeps JNA and the generated bindings in apps that shrink with R8.
        consumerProguardFiles("consumer-rules.pro")
        // src/androidTest: run on an emulator by .github/workflows/android.yml.
        testInstrumentationRunner = "androidx.test.runner.AndroidJUnitRunner"
    }

    testOptions {
        // The instrumented tests' APK (dev.keyfob.test) targets what apps target.
        targetSdk = libs.versions.targetSdk.get().toInt()
    }

    lint {
        targetSdk = libs.versions.targetSdk.get().toInt()
    }

    buildTypes {
        release {
            isMinifyEnabled = false
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }

    sourceSets.getByName("main") {
        // src/main/kotlin: platform-neutral (also built and tested on the JVM with Maven);
        // src/android/kotlin: the Android-only pieces; src/generated/kotlin: uniffi's output.
        kotlin.srcDirs("src/main/kotlin", "src/android/kotlin", "src/generated/kotlin")
    }

    publishing {
        singleVariant("release") {
            withSourcesJar()
            withJavadocJar()
        }
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_11)
    }
}

dependencies {
    // StateFlow and suspend functions are part of the public API.
    api(libs.kotlinx.coroutines.core)
    // JNA with its Android native dispatch libraries (the AAR, not the desktop jar). The POM
    // carries it as <type>aar</type>, so apps get the right artifact without adding it by hand.
    implementation("net.java.dev.jna:jna:${libs.versions.jna.get()}@aar")
    // @RequiresApi in the generated code; annotations only, nothing at run time.
    compileOnly(libs.androidx.annotation)

    androidTestImplementation(libs.androidx.test.runner)
    androidTestImplementation(libs.androidx.test.rules)
    androidTestImplementation(libs.androidx.test.ext.junit)
    androidTestImplementation(libs.junit4)
    androidTestImplementation(libs.kotlinx.coroutines.android)
}

publishing {
    publications {
        register<MavenPublication>("release") {
            groupId = "dev.keyfob"
            artifactId = "keyfob-android"
            afterEvaluate { from(components["release"]) }
            pom {
                name.set("Keyfob for Android")
                description.set(
                    "OpenID Connect sign-in for Android apps: PKCE, Custom Tabs or Auth Tab, ID token " +
                        "validation, tokens behind the Android Keystore, refresh when they expire.",
                )
                url.set(providers.gradleProperty("keyfobPomUrl").orElse("https://example.invalid/keyfob"))
                licenses {
                    license {
                        name.set("Apache-2.0")
                        url.set("https://www.apache.org/licenses/LICENSE-2.0")
                    }
                }
                developers {
                    developer {
                        id.set("keyfob")
                        name.set("The Keyfob authors")
                    }
                }
                scm {
                    url.set(providers.gradleProperty("keyfobPomUrl").orElse("https://example.invalid/keyfob"))
                }
            }
        }
    }
    repositories {
        // A release repository, when one is configured (e.g. -PkeyfobRepositoryUrl=... with
        // ORG_GRADLE_PROJECT_keyfobRepositoryUsername/Password in CI). publishToMavenLocal needs none.
        providers.gradleProperty("keyfobRepositoryUrl").orNull?.let { repositoryUrl ->
            maven {
                name = "release"
                url = uri(repositoryUrl)
                credentials {
                    username = providers.gradleProperty("keyfobRepositoryUsername").orNull
                    password = providers.gradleProperty("keyfobRepositoryPassword").orNull
                }
            }
        }
    }
}

// Signing hooks: with an ASCII-armoured key in signingInMemoryKey (and its password in
// signingInMemoryKeyPassword), e.g. ORG_GRADLE_PROJECT_signingInMemoryKey in CI, every publication
// is signed; without one, nothing is (publishToMavenLocal for development).
signing {
    val key = providers.gradleProperty("signingInMemoryKey").orNull
    if (key != null) {
        useInMemoryPgpKeys(key, providers.gradleProperty("signingInMemoryKeyPassword").orNull)
        sign(publishing.publications)
    }
}

// Fail early, with the fix, when build-android.sh has not run.
val checkNativeBuild by tasks.registering {
    val generated = file("src/generated/kotlin/dev/keyfob/ffi/keyfob.kt")
    val jniLibs = file("src/main/jniLibs")
    doLast {
        val abis = jniLibs.listFiles { f -> File(f, "libkeyfob.so").isFile }.orEmpty()
        if (!generated.isFile || abis.isEmpty()) {
            throw GradleException(
                "The native libraries or the generated bindings are missing: run scripts/build-android.sh " +
                    "(or scripts/build-android.sh --no-gradle before building here or in Android Studio).",
            )
        }
    }
}
tasks.named("preBuild") { dependsOn(checkNativeBuild) }
