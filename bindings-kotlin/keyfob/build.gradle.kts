// The Keyfob Android library (AAR): the uniffi-generated Kotlin (Android flavour), the Kotlin
// layer, and libkeyfob.so for each ABI. scripts/build-android.sh puts the generated sources in
// src/generated/kotlin and the libraries in src/main/jniLibs (both ignored by git), then runs
// :keyfob:assembleRelease.
import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.library)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "dev.keyfob"
    compileSdk = libs.versions.compileSdk.get().toInt()

    defaultConfig {
        minSdk = libs.versions.minSdk.get().toInt()
        // Keeps JNA and the generated bindings in apps that shrink with R8.
        consumerProguardFiles("consumer-rules.pro")
        // The app names its redirect scheme: manifestPlaceholders["keyfobRedirectScheme"].
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
        java.srcDirs("src/main/kotlin", "src/android/kotlin", "src/generated/kotlin")
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
    // JNA with its Android native dispatch libraries (the AAR, not the desktop jar).
    implementation("net.java.dev.jna:jna:${libs.versions.jna.get()}@aar")
    // @RequiresApi in the generated code; annotations only, nothing at run time.
    compileOnly(libs.androidx.annotation)
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
