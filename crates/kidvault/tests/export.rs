//! A guardian's export: the whole child as a ZIP streamed through the API,
//! read back by an independent implementation (Python's `zipfile`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

/// Lists an archive and returns `{name: text or byte count}` plus the manifest,
/// as read by Python's zipfile (which checks every CRC).
fn read_zip(bytes: &[u8]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.zip");
    std::fs::write(&path, bytes).unwrap();
    let script = r#"
import sys, json, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
out = {}
for i in z.infolist():
    data = z.read(i.filename)
    out[i.filename] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                       "text": data.decode() if not i.filename.endswith(".wav") else None}
print(json.dumps(out))
"#;
    let py = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    serde_json::from_slice(&py.stdout).unwrap()
}

fn sha256_hex(b: &[u8]) -> String {
    kidvault_crypto::sha256(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn an_export_holds_every_item_with_lineage_audio_locations_and_consents() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    let audio = wav(0.4, 7).0;
    let (_, rec) = app.upload(&child, &device, audio.clone(), Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let (_, tr) = app
        .item(&child, &device, json!({"kind": "transcript", "derived_from": [rec], "content": "where is my blue kite"}))
        .await;
    let tr = tr["item_id"].as_str().unwrap().to_owned();
    let (_, intent) = app
        .item(
            &child,
            &device,
            json!({"kind": "intent", "derived_from": [tr], "content": {"intent": "find", "slot": "kite"}}),
        )
        .await;
    let intent = intent["item_id"].as_str().unwrap().to_owned();
    let (s, _) = app
        .post(
            &format!("/children/{child}/locations"),
            Some(&device),
            json!({"lat": 52.37, "lon": 4.89, "accuracy_m": 9.5}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);

    let resp = fetch(&app.http, app.url(&format!("/children/{child}/export")), &g).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let disposition = resp.headers()["content-disposition"].to_str().unwrap().to_owned();
    let today = chrono::Utc::now().format("%Y-%m-%d");
    assert!(disposition.starts_with(&format!("attachment; filename=\"kidvault-Mia-{today}.zip")), "{disposition}");
    let files = read_zip(&resp.bytes().await.unwrap());

    let names: Vec<&str> = files.as_object().unwrap().keys().map(String::as_str).collect();
    for must in ["README.txt", "manifest.json", "locations.geojson", "locations.csv", "consents.json"] {
        assert!(names.contains(&must), "{must} in {names:?}");
    }
    let wav_name = names.iter().find(|n| n.starts_with("audio/") && n.ends_with(&format!("{rec}.wav"))).unwrap();
    assert_eq!(files[*wav_name]["sha256"], sha256_hex(&audio), "the recording, byte for byte");
    let tr_name = names.iter().find(|n| n.starts_with("transcripts/")).unwrap();
    assert_eq!(files[*tr_name]["text"], "where is my blue kite");
    // index.html plays each recording from the extracted folder, the words beside it, and fetches nothing.
    let index = files["index.html"]["text"].as_str().unwrap();
    assert!(
        index.contains(&format!(
            r#"<audio controls preload="none" src="{wav_name}"></audio><blockquote>where is my blue kite</blockquote>"#
        )),
        "{index}"
    );
    assert!(
        !index.contains("http://") && !index.contains("https://") && !index.contains("<script"),
        "nothing from a network"
    );

    let manifest: Value = serde_json::from_str(files["manifest.json"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(manifest["format"], "kidvault-export/v1");
    assert_eq!(manifest["display_name"], "Mia");
    let items = manifest["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let by_id = |id: &str| items.iter().find(|i| i["id"] == id).unwrap().clone();
    assert_eq!(by_id(&rec)["derived"], json!([tr]), "lineage: what was derived from the recording");
    assert_eq!(by_id(&tr)["derived_from"], json!([rec]));
    assert_eq!(by_id(&tr)["derived"], json!([intent]));
    for i in items {
        assert!(names.contains(&i["file"].as_str().unwrap()), "every item's file is in the archive: {i}");
    }
    let intent_file = by_id(&intent)["file"].as_str().unwrap().to_owned();
    let intent_json: Value = serde_json::from_str(files[&intent_file]["text"].as_str().unwrap()).unwrap();
    assert_eq!(intent_json["slot"], "kite");

    let geo: Value = serde_json::from_str(files["locations.geojson"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(geo["features"][0]["geometry"]["coordinates"], json!([4.89, 52.37]));
    assert!(files["locations.csv"]["text"].as_str().unwrap().contains(",52.37,4.89,9.5"));
    let consents: Value = serde_json::from_str(files["consents.json"]["text"].as_str().unwrap()).unwrap();
    assert_eq!(consents[0]["method"], "signed_form");

    // The export is one read, in the child's access log, with its counts.
    let (_, log) = app.get(&format!("/children/{child}/access-log"), &g).await;
    let exports: Vec<&Value> =
        log["entries"].as_array().unwrap().iter().filter(|e| e["detail"]["what"] == "export").collect();
    assert_eq!(exports.len(), 1);
    assert_eq!(exports[0]["counts"]["voice_recording"], 1);

    // Nobody else can take it: another household, a device, no token.
    let other = app.guardian("eve@example.org").await;
    assert_eq!(fetch(&app.http, app.url(&format!("/children/{child}/export")), &other).await.status(), 404);
    assert_eq!(fetch(&app.http, app.url(&format!("/children/{child}/export")), &device).await.status(), 401);
    assert_eq!(app.http.get(app.url(&format!("/children/{child}/export"))).send().await.unwrap().status(), 401);

    // A parent who reads kidvault in Spanish gets the pages of the export in Spanish.
    let vault = app.vault.as_ref().unwrap();
    let session = vault.authenticate_guardian(&g, chrono::Utc::now()).await.unwrap();
    vault.set_language(&session, "es").await.unwrap();
    let files =
        read_zip(&fetch(&app.http, app.url(&format!("/children/{child}/export")), &g).await.bytes().await.unwrap());
    let index = files["index.html"]["text"].as_str().unwrap();
    assert!(index.contains(r#"<html lang="es">"#) && index.contains("<h1>Lo que dijo Mia</h1>"), "{index}");
    assert!(index.contains("<blockquote>where is my blue kite</blockquote>"), "the words are the child's own");
    let readme = files["README.txt"]["text"].as_str().unwrap();
    assert!(readme.starts_with("Todo lo que kidvault guarda sobre Mia"), "{readme}");
    assert!(readme.contains("manifest.json: cada elemento"), "{readme}");
}

#[tokio::test]
async fn a_large_export_streams_without_holding_the_archive() {
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    // 450 recordings (more than two pages of the export's reader).
    let mut total = 0usize;
    for i in 0..450u32 {
        let audio = wav(0.5, 100 + i).0;
        total += audio.len();
        let (s, _) = app.upload(&child, &device, audio, Some("audio/wav")).await;
        assert_eq!(s, StatusCode::CREATED);
    }
    let mut resp = fetch(&app.http, app.url(&format!("/children/{child}/export")), &g).await;
    assert!(resp.headers().get("content-length").is_none(), "streamed (chunked), not buffered to a known length");
    let (mut parts, mut bytes) = (0usize, Vec::new());
    while let Some(chunk) = resp.chunk().await.unwrap() {
        parts += 1;
        bytes.extend_from_slice(&chunk);
    }
    assert!(parts > 450, "sent as it was built, one part per file ({parts} parts)");
    assert!(bytes.len() > total);
    let files = read_zip(&bytes);
    assert_eq!(files.as_object().unwrap().keys().filter(|n| n.starts_with("audio/")).count(), 450);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_month_of_locations_exports_past_65535_entries() {
    use futures::StreamExt;
    let app = spawn_app().await;
    let (g, child, device) = household(&app, "ana@example.org").await;
    // A location every 30 s for about 25 days: 72,000 fixes, over ZIP's
    // classic 65,535-entry limit.
    const FIXES: usize = 72_000;
    let url = app.url(&format!("/children/{child}/locations"));
    let start = chrono::Utc::now() - chrono::Duration::days(26);
    let statuses: Vec<StatusCode> = futures::stream::iter(0..FIXES)
        .map(|i| {
            let at = (start + chrono::Duration::seconds(30 * i as i64)).to_rfc3339();
            let req = app.http.post(&url).bearer_auth(&device).json(&json!({
                "lat": 52.0 + (i % 1000) as f64 / 10_000.0, "lon": 4.8, "accuracy_m": 5.0, "recorded_at": at,
            }));
            async move { req.send().await.unwrap().status() }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == StatusCode::CREATED), "every fix stored");

    let bytes = fetch(&app.http, app.url(&format!("/children/{child}/export")), &g).await.bytes().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.zip");
    std::fs::write(&path, &bytes).unwrap();
    let script = r#"
import sys, json, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
names = z.namelist()
present = set(names)
manifest = json.loads(z.read("manifest.json"))
csv_rows = z.read("locations.csv").decode().strip().count("\n")
print(json.dumps({"entries": len(names), "items": len(manifest["items"]), "csv_rows": csv_rows,
                  "files_present": all(i["file"] in present for i in manifest["items"])}))
"#;
    let py = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).output().unwrap();
    assert!(py.status.success(), "{}", String::from_utf8_lossy(&py.stderr));
    let seen: Value = serde_json::from_slice(&py.stdout).unwrap();
    assert_eq!(seen["items"], FIXES, "{seen}");
    assert_eq!(seen["csv_rows"], FIXES, "{seen}");
    assert_eq!(seen["files_present"], true);
    assert!(seen["entries"].as_u64().unwrap() > 65_535, "{seen}");
}
