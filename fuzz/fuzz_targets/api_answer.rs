//! The API client's reading of the platform's answers, on any body: it returns, never panics,
//! and what it reads agrees with serde_json's own reading of the body: an error only for an
//! object with a non-zero integer `errcode`, a token only with a non-empty `access_token` and a
//! positive `expires_in`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let read = passive_reply::client::read_answer_text(data);
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(data) else {
        assert_eq!(read, None);
        return;
    };
    let Some(read) = read else { return };
    let code = object.get("errcode").map(|c| c.as_i64().expect("an integer errcode, or no answer"));
    match code {
        Some(code) if code != 0 => assert!(read.starts_with(&format!("error {code}: ")), "{read}"),
        _ if read == "ok" => assert!(object.get("access_token").is_none()),
        _ => {
            let token = object["access_token"].as_str().unwrap();
            let expires_in = object["expires_in"].as_u64().unwrap();
            assert!(!token.is_empty() && expires_in > 0);
            assert_eq!(read, format!("token {token} {expires_in}"));
        }
    }
});
