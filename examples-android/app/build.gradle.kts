import org.jetbrains.kotlin.gradle.dsl.JvmTarget

plugins {
    alias(libs.plugins.android.application)
    alias(libs.plugins.kotlin.android)
}

android {
    namespace = "dev.keyfob.sample"
    compileSdk = libs.versions.compileSdk.get().toInt()

    defaultConfig {
        applicationId = "dev.keyfob.sample"
        minSdk = libs.versions.minSdk.get().toInt()
        targetSdk = libs.versions.compileSdk.get().toInt()
        versionCode = 1
        versionName = "1.0"
        // KeyfobRedirectActivity receives this scheme: the redirect URI is
        // com.example.app:/callback, which the testkit registers by default.
        manifestPlaceholders["keyfobRedirectScheme"] = "com.example.app"
    }

    buildTypes {
        release {
            // Shrunk like a real release, so the library's consumer rules are exercised.
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"))
            signingConfig = signingConfigs.getByName("debug")
        }
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_11
        targetCompatibility = JavaVersion.VERSION_11
    }

    sourceSets.getByName("main") {
        java.srcDirs("src/main/kotlin")
    }
}

kotlin {
    compilerOptions {
        jvmTarget.set(JvmTarget.JVM_11)
    }
}

dependencies {
    implementation(project(":keyfob"))
    // Dispatchers.Main for the activity's coroutines.
    implementation(libs.kotlinx.coroutines.android)
}
