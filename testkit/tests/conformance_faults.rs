//! The faults added for the relying-party conformance matrix: duplicated and fragment callback
//! parameters, extra response headers (Retry-After, Location) and a connection closed mid-body.

mod common;

use common::*;
use keyfob_testkit::Faults;
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use serde_json::json;

#[tokio::test]
async fn callback_append_duplicates_parameters() {
    let tk = start().await;
    tk.set_faults(
        Faults::callback_append("state", "second-state")
            .and(Faults::callback_append("code", "second-code")),
    );
    let response = authorize(&tk, &Pkce::new(), &[]).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let params = location_params(response.headers());
    let values = |name: &str| -> Vec<&str> {
        params
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    assert_eq!(values("state"), ["st-1", "second-state"]);
    assert_eq!(values("code").len(), 2);
    assert_eq!(values("code")[1], "second-code");
    // Appended after the `callback` merge.
    tk.set_faults(
        Faults::callback(json!({"iss": null}))
            .and(Faults::callback_append("iss", "https://a.example")),
    );
    let response = authorize(&tk, &Pkce::new(), &[]).await;
    let params = location_params(response.headers());
    assert_eq!(param(&params, "iss"), Some("https://a.example"));
}

#[tokio::test]
async fn callback_in_fragment_moves_the_parameters_after_the_hash() {
    let tk = start().await;
    tk.set_faults(Faults::callback_in_fragment());
    let response = authorize(&tk, &Pkce::new(), &[]).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[LOCATION].to_str().unwrap().to_owned();
    let url = url::Url::parse(&location).unwrap();
    assert_eq!(url.query(), None, "{location}");
    let fragment: Vec<(String, String)> =
        url::form_urlencoded::parse(url.fragment().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert!(param(&fragment, "code").is_some(), "{location}");
    assert_eq!(param(&fragment, "state"), Some("st-1"));
    assert_eq!(param(&fragment, "iss"), Some(tk.issuer()));
    assert!(location.starts_with("myapp://callback#code="), "{location}");
}

#[tokio::test]
async fn endpoint_headers_are_sent() {
    let tk = start().await;
    tk.set_faults(Faults::endpoint("/token", |f| {
        f.status = Some(429);
        f.headers = vec![
            ("Retry-After".into(), "120".into()),
            ("bad name".into(), "skipped".into()),
        ];
    }));
    let response = post_form(&tk, "/token", &[("grant_type", "refresh_token")]).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "120");

    // Headers alone make the fault answer (200, empty body): a redirect with a Location.
    tk.set_faults(Faults::endpoint("/token", |f| {
        f.status = Some(307);
        f.headers = vec![("Location".into(), format!("{}/revoke", tk.issuer()))];
    }));
    let response = post_form(&tk, "/token", &[("grant_type", "refresh_token")]).await;
    assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(
        response.headers()[LOCATION].to_str().unwrap(),
        format!("{}/revoke", tk.issuer())
    );
    assert_eq!(
        tk.stats().revoke,
        0,
        "the test client does not follow it either"
    );
}

#[tokio::test]
async fn abort_after_bytes_closes_the_connection_mid_body() {
    let tk = start().await;
    let body = r#"{"access_token":"abc","token_type":"Bearer","expires_in":300}"#;
    tk.set_faults(Faults::endpoint("/token", |f| {
        f.status = Some(200);
        f.body = Some(body.into());
        f.abort_after_bytes = Some(20);
        f.times = Some(1);
    }));
    let response = post_form(&tk, "/token", &[("grant_type", "refresh_token")]).await;
    // The head arrives; the body never completes.
    assert_eq!(response.status(), StatusCode::OK);
    let error = response.bytes().await.unwrap_err();
    assert!(error.is_body() || error.is_decode(), "{error:?}");

    // Only the next request was faulted; the endpoint works again.
    let response = post_form(&tk, "/token", &[("grant_type", "refresh_token")]).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    response.bytes().await.unwrap();
}

#[test]
fn faults_parse_from_a_command_line_argument() {
    let faults = Faults::from_arg(
        r#"{"callback_in_fragment": true, "endpoints": [{"path": "/token", "status": 429,
            "headers": [["Retry-After", "30"]], "abort_after_bytes": 3}]}"#,
    )
    .unwrap();
    assert!(faults.callback_in_fragment);
    assert_eq!(
        faults.endpoints[0].headers,
        vec![("Retry-After".to_string(), "30".to_string())]
    );
    assert_eq!(faults.endpoints[0].abort_after_bytes, Some(3));

    let path = std::env::temp_dir().join(format!("keyfob-faults-{}.json", std::process::id()));
    std::fs::write(&path, r#"{"id_token_signing": "alg_none"}"#).unwrap();
    let from_file = Faults::from_arg(&format!("@{}", path.display())).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        from_file.id_token_signing,
        Some(keyfob_testkit::Signing::AlgNone)
    );
    assert!(Faults::from_arg("{").is_err());
}
