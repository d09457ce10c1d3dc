package dev.keyfob.sample

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext
import org.json.JSONArray
import org.json.JSONException
import org.json.JSONObject
import java.net.HttpURLConnection
import java.net.URL

/** Calls to servers A (crm) and B (orders): plain HTTP with `Authorization: Bearer`, no cookies. */
object ResourceServers {
    class Answer(val status: Int, val body: String)

    suspend fun get(url: String, accessToken: String): Answer = withContext(Dispatchers.IO) {
        val connection = URL(url).openConnection() as HttpURLConnection
        try {
            connection.setRequestProperty("Authorization", "Bearer $accessToken")
            connection.setRequestProperty("Accept", "application/json")
            connection.connectTimeout = 10_000
            connection.readTimeout = 10_000
            val status = connection.responseCode
            val stream = if (status >= 400) connection.errorStream else connection.inputStream
            val body = stream?.bufferedReader()?.use { it.readText() }.orEmpty()
            Answer(status, pretty(body))
        } finally {
            connection.disconnect()
        }
    }

    private fun pretty(body: String): String = try {
        val trimmed = body.trim()
        if (trimmed.startsWith("[")) JSONArray(trimmed).toString(2) else JSONObject(trimmed).toString(2)
    } catch (e: JSONException) {
        body
    }
}
