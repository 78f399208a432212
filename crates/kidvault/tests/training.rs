//! Training datasets and model lineage, end to end through the real binary: a
//! snapshot holds only children whose parents allowed training; Python's
//! `webdataset` reads its shards and finds exactly the manifest's samples; a
//! deletion flags the model trained on the affected shard and the next snapshot
//! lacks the item; the pipeline's acknowledgement shows on the parent's deletion.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;

struct Pipeline<'a> {
    app: &'a TestApp,
    id: String,
    secret: String,
}

impl Pipeline<'_> {
    async fn post(&self, path: &str, mut body: Value) -> (StatusCode, Value) {
        body["processor_id"] = json!(self.id);
        let body = body.to_string();
        let header = sign(&self.secret, chrono::Utc::now().timestamp(), &body);
        let req = self.app.http.post(self.app.url(path)).header("kidvault-signature", header).body(body);
        TestApp::send(req).await
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        let signed = format!("/api/v1{path}");
        let header = sign(&self.secret, chrono::Utc::now().timestamp(), &signed);
        let req = self.app.http.get(self.app.url(path)).header("kidvault-signature", header);
        req.header("kidvault-processor", &self.id).send().await.unwrap()
    }

    async fn manifest(&self, dataset: &str) -> Value {
        let resp = self.get(&format!("/datasets/{dataset}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }
}

/// Every shard of a dataset read with Python's `webdataset`: `{key: {ext: sha256 or text}}`.
async fn read_shards(p: &Pipeline<'_>, dataset: &str, shards: u64) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for n in 0..shards {
        let resp = p.get(&format!("/datasets/{dataset}/shards/{n}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/x-tar");
        let path = dir.path().join(format!("shard-{n:05}.tar"));
        std::fs::write(&path, resp.bytes().await.unwrap()).unwrap();
        paths.push(path.to_str().unwrap().to_owned());
    }
    let script = r#"
import sys, json, hashlib, webdataset as wds
out = {}
for sample in wds.WebDataset(sys.argv[1:], shardshuffle=False, empty_check=False):
    files = {}
    for ext, data in sample.items():
        if ext.startswith("__"):
            continue
        files[ext] = data.decode() if ext in ("txt", "json") else hashlib.sha256(data).hexdigest()
    out[sample["__key__"]] = files
print(json.dumps(out))
"#;
    let py = std::process::Command::new("python3").arg("-c").arg(script).args(&paths).output().unwrap();
    assert!(
        py.status.success(),
        "python3 with webdataset (scripts/setup installs it): {}",
        String::from_utf8_lossy(&py.stderr)
    );
    serde_json::from_slice(&py.stdout).unwrap()
}

/// Every event validated against OpenLineage's published JSON schema (spec
/// 2-0-2, vendored in tests/fixtures) by Python's `jsonschema`.
fn validate_openlineage(events: &[Value]) {
    let schema = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/OpenLineage-2-0-2.json");
    let script = r##"
import sys, json, jsonschema
schema = json.load(open(sys.argv[1]))
run_event = {"$ref": "#/$defs/RunEvent", "$defs": schema["$defs"]}
validator = jsonschema.Draft202012Validator(run_event, format_checker=jsonschema.FormatChecker())
for event in json.load(sys.stdin):
    validator.validate(event)
"##;
    let mut py = std::process::Command::new("python3")
        .args(["-c", script, schema])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    py.stdin.take().unwrap().write_all(serde_json::to_string(events).unwrap().as_bytes()).unwrap();
    let out = py.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "python3 with jsonschema (scripts/setup installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sha256_hex(b: &[u8]) -> String {
    kidvault_crypto::sha256(b).iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_hold_only_consented_children_and_deletions_flag_the_models_trained_on_them() {
    let (hooks, calls) = receiver(&[
        ("trainer", Behaviour::FailThenAck(0)),
        ("stt", Behaviour::FailThenAck(0)),
        ("lineage", Behaviour::FailThenAck(0)),
    ])
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kv.toml");
    std::fs::write(&config, format!("openlineage_url = \"{hooks}/lineage\"\nopenlineage_namespace = \"kids-asr\"\n"))
        .unwrap();
    let mut p = run_binary(dir.path(), &["--config", config.to_str().unwrap()]);
    let app = TestApp::attach(&p.base, dir);
    let admin = staff(&app, app.dir.path(), "admin").await;
    let (s, b) = register_for(
        &app,
        &admin,
        "trainer",
        format!("{hooks}/trainer"),
        "training",
        &["user.biometric.voice", "user.content"],
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let ml = Pipeline { app: &app, id: b["id"].as_str().unwrap().into(), secret: b["secret"].as_str().unwrap().into() };
    let (_, stt) = register(&app, &admin, "stt", format!("{hooks}/stt"), &["user.content"]).await;

    let (g, mia, device) = household(&app, "ana@example.org").await;
    let (_, leo, leo_device) = household(&app, "bob@example.org").await;
    let mut audio = Vec::new();
    let mut recordings = Vec::new();
    let mut transcripts = Vec::new();
    for (n, words) in ["why is the sky blue", "tell me about whales"].iter().enumerate() {
        let wav = wav(0.3, 40 + n as u32).0;
        let (_, rec) = app.upload(&mia, &device, wav.clone(), Some("audio/wav")).await;
        let rec = rec["item_id"].as_str().unwrap().to_owned();
        let (_, tr) =
            app.item(&mia, &device, json!({"kind": "transcript", "derived_from": [rec], "content": words})).await;
        transcripts.push(tr["item_id"].as_str().unwrap().to_owned());
        recordings.push(rec);
        audio.push(wav);
    }
    app.upload(&leo, &leo_device, wav(0.3, 50).0, Some("audio/wav")).await;

    // Nobody allowed training yet: an empty snapshot. Then Mia's parent allows it.
    let (s, preview) = ml.post("/datasets/preview", json!({"shards": 4})).await;
    assert_eq!((s, preview), (StatusCode::OK, json!({"children": 0, "items": 0})));
    let (s, empty) = ml.post("/datasets", json!({"shards": 4})).await;
    assert_eq!((s, empty["items"].as_u64()), (StatusCode::CREATED, Some(0)), "{empty}");
    app.consent(&g, &mia, &["voice", "training"]).await;
    // A preview says what a snapshot would take now, by the same rule, and
    // discloses nothing.
    let (s, preview) = ml.post("/datasets/preview", json!({"shards": 4})).await;
    assert_eq!((s, preview), (StatusCode::OK, json!({"children": 1, "items": 4})));
    let (s, preview) = ml.post("/datasets/preview", json!({"kinds": ["transcript"]})).await;
    assert_eq!((s, preview), (StatusCode::OK, json!({"children": 1, "items": 2})));
    let (_, register) = app.get(&format!("/children/{mia}/disclosures"), &g).await;
    assert_eq!(register["received"], json!([]), "a preview sends nothing: {register}");
    let (s, ds) = ml.post("/datasets", json!({"shards": 4})).await;
    assert_eq!(
        (s, ds["items"].as_u64()),
        (StatusCode::CREATED, Some(4)),
        "Mia's two recordings and transcripts, no Leo"
    );
    let ds_id = ds["dataset_id"].as_str().unwrap().to_owned();

    // The manifest: one sample per recording with its transcript, Mia under a pseudonym.
    let manifest = ml.manifest(&ds_id).await;
    let samples = manifest["samples"].as_array().unwrap();
    assert_eq!(samples.len(), 2);
    assert!(!manifest.to_string().contains(&mia), "the child's id never reaches the pipeline");
    assert_eq!(samples[0]["child"], samples[1]["child"], "one child, one pseudonym");
    assert_eq!(samples[0]["shard"], samples[1]["shard"], "one child, one shard");
    let shard = samples[0]["shard"].as_u64().unwrap();
    for (n, s) in samples.iter().enumerate() {
        assert_eq!(s["key"], recordings[n].as_str());
        assert_eq!(s["items"], json!([recordings[n], transcripts[n]]));
    }

    // webdataset reads exactly the manifest's samples, audio and words intact.
    let read = read_shards(&ml, &ds_id, 4).await;
    let keys: std::collections::BTreeSet<&str> = read.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, recordings.iter().map(String::as_str).collect());
    for (n, rec) in recordings.iter().enumerate() {
        assert_eq!(read[rec]["wav"], sha256_hex(&audio[n]));
        assert_eq!(read[rec]["txt"], ["why is the sky blue", "tell me about whales"][n]);
        let meta: Value = serde_json::from_str(read[rec]["json"].as_str().unwrap()).unwrap();
        assert_eq!(meta["sha256"]["wav"], sha256_hex(&audio[n]));
    }

    // A model trained on Mia's shard; one on another shard is not affected later.
    let (s, m1) = ml
        .post(
            "/models",
            json!({"name": "asr", "version": "1", "trained_on": [{"dataset_id": ds_id, "shards": [shard]}]}),
        )
        .await;
    assert_eq!((s, m1["flags"].as_u64()), (StatusCode::CREATED, Some(0)), "{m1}");
    let other = (shard + 1) % 4;
    let (s, _) = ml
        .post(
            "/models",
            json!({"name": "kws", "version": "1", "trained_on": [{"dataset_id": ds_id, "shards": [other]}]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let m1 = m1["model_id"].as_str().unwrap().to_owned();

    // The parent deletes the first recording: the model trained on it is flagged.
    let (_, accepted) = app.delete(&format!("/items/{}", recordings[0]), &g).await;
    let deletion = accepted["deletion_id"].as_str().unwrap().to_owned();
    let done = await_deletion(&app, &g, &deletion).await;
    let (_, flagged) = app.get("/admin/model-flags", &admin).await;
    let flagged = flagged.as_array().unwrap();
    assert_eq!(flagged.len(), 1, "{flagged:?}");
    assert_eq!((flagged[0]["model_id"].as_str(), flagged[0]["flags"].as_u64()), (Some(m1.as_str()), Some(2)));
    assert_eq!(flagged[0]["overdue"], false);
    let deadline: chrono::DateTime<chrono::Utc> = flagged[0]["deadline"].as_str().unwrap().parse().unwrap();
    let days = (deadline - chrono::Utc::now()).num_days();
    assert!((29..=30).contains(&days), "30 days to retrain ({days})");
    assert_eq!(done["models"][0]["model_id"], m1.as_str(), "the parent's deletion names the model");
    assert_eq!(done["models"][0]["outcome"], Value::Null);
    // The signed receipt names it too, with the date it must be retrained or destroyed by.
    let (receipt, _) = app.verified_receipt(&g, &deletion).await;
    let document: Value = serde_json::from_str(&receipt.document).unwrap();
    assert_eq!(document["models"].as_array().map(Vec::len), Some(1), "{document}");
    assert_eq!(
        (document["models"][0]["model_id"].as_str(), document["models"][0]["name"].as_str()),
        (Some(m1.as_str()), Some("asr"))
    );
    let due: chrono::DateTime<chrono::Utc> = document["models"][0]["due_by"].as_str().unwrap().parse().unwrap();
    assert_eq!(due, deadline, "the receipt's date is the deadline the pipeline is held to");
    let page = portal_page(&app, &g, &format!("/portal/deletions/{deletion}")).await;
    assert!(page.contains("<strong>asr 1</strong>: to be retrained without it or destroyed by"), "{page}");
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kidvault_models_flagged 1\n"), "{metrics}");
    assert!(metrics.contains("kidvault_models_flagged_overdue 0\n"), "{metrics}");

    // The old snapshot no longer serves it; the next one lacks it.
    let manifest = ml.manifest(&ds_id).await;
    let removed: Vec<bool> =
        manifest["samples"].as_array().unwrap().iter().map(|s| s["removed"].as_bool().unwrap()).collect();
    assert_eq!(removed, vec![true, false]);
    let read = read_shards(&ml, &ds_id, 4).await;
    assert_eq!(read.as_object().unwrap().keys().collect::<Vec<_>>(), vec![&recordings[1]]);
    let (_, ds2) = ml.post("/datasets", json!({"shards": 4})).await;
    assert_eq!(ds2["items"].as_u64(), Some(2));
    let ds2_id = ds2["dataset_id"].as_str().unwrap().to_owned();
    let (_, m2) = ml
        .post(
            "/models",
            json!({"name": "asr", "version": "2", "trained_on": [{"dataset_id": ds2_id, "shards": [0, 1, 2, 3]}]}),
        )
        .await;
    let m2 = m2["model_id"].as_str().unwrap().to_owned();

    // Retrained: acknowledged once, with evidence; the parent sees it.
    let (s, e) =
        ml.post(&format!("/models/{m1}/resolution"), json!({"outcome": "retrained", "evidence": "run 7"})).await;
    assert_eq!((s, code(&e)), (StatusCode::UNPROCESSABLE_ENTITY, "replacement_required"));
    let ack =
        json!({"outcome": "retrained", "replaced_by": m2, "evidence": "training run 7 without the deleted items"});
    let (s, r) = ml.post(&format!("/models/{m1}/resolution"), ack.clone()).await;
    assert_eq!((s, r["outcome"].as_str()), (StatusCode::OK, Some("retrained")), "{r}");
    let (s, again) =
        ml.post(&format!("/models/{m1}/resolution"), json!({"outcome": "destroyed", "evidence": "x"})).await;
    assert_eq!((s, again["outcome"].as_str()), (StatusCode::OK, Some("retrained")), "the first outcome stays");
    let (_, flagged) = app.get("/admin/model-flags", &admin).await;
    assert_eq!(flagged, json!([]));
    let page = portal_page(&app, &g, &format!("/portal/deletions/{deletion}")).await;
    assert!(page.contains("<strong>asr 1</strong>: retrained without it on"), "{page}");
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("kidvault_models_flagged 0\n"), "{metrics}");
    let (_, status) = app.get(&format!("/deletions/{deletion}"), &g).await;
    assert_eq!(
        (status["models"][0]["outcome"].as_str(), status["models"][0]["replaced_by"].as_str()),
        (Some("retrained"), Some(m2.as_str()))
    );

    // Training withdrawn: the pipeline's copies are recalled and the new model flagged.
    let (s, _) = app.delete(&format!("/children/{mia}/consents/training"), &g).await;
    assert_eq!(s, StatusCode::OK);
    let (_, flagged) = app.get("/admin/model-flags", &admin).await;
    assert_eq!(flagged[0]["model_id"], m2.as_str(), "{flagged}");
    let (_, ds3) = ml.post("/datasets", json!({"shards": 4})).await;
    assert_eq!(ds3["items"].as_u64(), Some(0));

    // Refusals.
    let stt =
        Pipeline { app: &app, id: stt["id"].as_str().unwrap().into(), secret: stt["secret"].as_str().unwrap().into() };
    for path in ["/datasets", "/datasets/preview"] {
        let (s, e) = stt.post(path, json!({})).await;
        assert_eq!((s, code(&e)), (StatusCode::FORBIDDEN, "not_a_training_processor"), "{path}");
    }
    for (body, want) in [
        (json!({"kinds": ["location"]}), "kind_not_allowed_for_training"),
        (json!({"kinds": ["horoscope"]}), "unknown_kind"),
        (json!({"shards": 0}), "invalid_shards"),
        (json!({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}), "invalid_range"),
    ] {
        for path in ["/datasets", "/datasets/preview"] {
            let (s, e) = ml.post(path, body.clone()).await;
            assert_eq!((s, code(&e)), (StatusCode::UNPROCESSABLE_ENTITY, want), "{path}");
        }
    }
    let unknown = json!({"name": "x", "version": "1", "trained_on": [{"dataset_id": m1, "shards": [0]}]});
    let (s, e) = ml.post("/models", unknown).await;
    assert_eq!((s, code(&e)), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_dataset"));
    let (s, e) = ml.post("/models", json!({"name": "asr", "version": "2", "trained_on": []})).await;
    assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "model_exists"));
    // Lineage out: one OpenLineage RunEvent per snapshot and per model, valid
    // against the 2-0-2 schema, ids and counts only.
    let events = poll("seven lineage events", async || {
        let seen: Vec<Value> = calls
            .lock()
            .unwrap()
            .iter()
            .filter(|c| c.processor == "lineage")
            .map(|c| serde_json::from_str(&c.body).unwrap())
            .collect();
        (seen.len() >= 7).then_some(seen)
    })
    .await;
    validate_openlineage(&events);
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains(&mia) && !text.contains("whales"), "ids and counts, never the child or content");
    let snapshot = events.iter().find(|e| e["run"]["runId"] == ds_id.as_str()).unwrap();
    assert_eq!(snapshot["job"]["namespace"], "kids-asr");
    assert_eq!(snapshot["outputs"][0]["name"], format!("datasets/{ds_id}"));
    assert_eq!(snapshot["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"], 4);
    let model = events.iter().find(|e| e["run"]["runId"] == m1.as_str()).unwrap();
    assert_eq!(model["inputs"][0]["name"], format!("datasets/{ds_id}"));
    assert_eq!(model["outputs"][0]["name"], format!("models/{m1}"));

    let forged = app
        .http
        .get(app.url(&format!("/datasets/{ds_id}")))
        .header("kidvault-processor", &ml.id)
        .header(
            "kidvault-signature",
            sign(&stt.secret, chrono::Utc::now().timestamp(), &format!("/api/v1/datasets/{ds_id}")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::UNAUTHORIZED);
    assert!(terminate(&mut p).success());
}
