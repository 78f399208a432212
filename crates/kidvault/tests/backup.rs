//! `kidvault backup` and `kidvault restore`, through the real binary: data and
//! keys, before and after deletions, within and past the backup window.
//! Survivors come back readable; nothing deleted comes back; an expired or
//! altered backup is refused and changes nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::*;

/// A deployment with two backups around some deletions, stopped.
struct Scene {
    root: tempfile::TempDir,
    token: String,
    mia: String,
    leo: String,
    /// Mia's recording and transcript that stay, and their audio.
    keep: String,
    keep_tr: String,
    keep_audio: Vec<u8>,
    /// Ingested after the first backup; survives.
    late: String,
    /// Deleted after the first backup: a recording and its transcript, and Leo.
    gone: Vec<String>,
    /// Taken before the deletions, and after them.
    before: PathBuf,
    after: PathBuf,
}

/// A command on the deployment at `root`, with its blob store (an S3 bucket on
/// the PostgreSQL run, which a backup leaves out: the bucket keeps its objects).
fn run(root: &Path, args: &[&str]) -> std::process::Output {
    kidvault_with(root, args, &[])
}

fn ok(out: std::process::Output) -> String {
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn text(app: &TestApp, child: &str, device: &str, from: &str, words: &str) -> String {
    let (s, v) = app.item(child, device, json!({"kind": "transcript", "derived_from": [from], "content": words})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["item_id"].as_str().unwrap().to_owned()
}

async fn scene() -> Scene {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut p = run_binary(&root, &[]);
    let app = TestApp::attach(&p.base, dir);
    let (token, mia, device) = household(&app, "ana@example.org").await;
    let (_, rec) = app.upload(&mia, &device, wav(0.4, 1).0, Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let tr = text(&app, &mia, &device, &rec, "words to forget").await;
    let keep_audio = wav(0.4, 2).0;
    let (_, keep) = app.upload(&mia, &device, keep_audio.clone(), Some("audio/wav")).await;
    let keep = keep["item_id"].as_str().unwrap().to_owned();
    let keep_tr = text(&app, &mia, &device, &keep, "words that stay").await;
    let leo = app.child(&token, "Leo").await;
    app.consent(&token, &leo, &["voice"]).await;
    let (_, leo_device) = app.device(&token, &leo, "Leo's speaker").await;
    let (_, leo_rec) = app.upload(&leo, &leo_device, wav(0.4, 3).0, Some("audio/wav")).await;
    let leo_rec = leo_rec["item_id"].as_str().unwrap().to_owned();

    // A backup while serving.
    let before = root.join("before.kvb");
    let said = ok(run(&root, &["backup", "create", "--to", before.to_str().unwrap()]));
    assert!(said.contains("restorable until"), "{said}");
    let (_, late) = app.upload(&mia, &device, wav(0.4, 4).0, Some("audio/wav")).await;
    let late = late["item_id"].as_str().unwrap().to_owned();
    let mut ids = Vec::new();
    for path in [format!("/items/{rec}"), format!("/children/{leo}")] {
        let (s, d) = app.delete(&path, &token).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{d}");
        ids.push(d["deletion_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        await_deletion(&app, &token, id).await;
    }
    let after = root.join("after.kvb");
    ok(run(&root, &["backup", "create", "--to", after.to_str().unwrap()]));
    app.http.get(app.url("/ledger/checkpoint")).send().await.unwrap();
    terminate(&mut p);
    Scene {
        root: app.detach(),
        token,
        mia,
        leo,
        keep,
        keep_tr,
        keep_audio,
        late,
        gone: vec![rec, tr, leo_rec],
        before,
        after,
    }
}

impl Scene {
    /// A copy of the stopped deployment, for one restore.
    fn copy(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(self.root.path(), dir.path());
        if let Some(url) = database_of(self.root.path()) {
            let copy = kidvault_store_postgres::testing::copy_database(&url);
            std::fs::write(dir.path().join("database-url"), copy).unwrap();
        }
        dir
    }

    /// Serves `root` and checks what a guardian sees: the survivors readable,
    /// `late` as given (`None`: either, and readable if listed), nothing
    /// deleted listed or readable.
    async fn check(&self, root: &Path, late_survives: Option<bool>, what: &str) {
        let p = run_binary(root, &[]);
        let app = TestApp::attach(&p.base, tempfile::tempdir().unwrap());
        let g = &self.token;
        let (_, kids) = app.get("/children", g).await;
        let kids: Vec<&str> =
            kids["children"].as_array().unwrap().iter().map(|c| c["child_id"].as_str().unwrap()).collect();
        assert_eq!(kids, [self.mia.as_str()], "{what}: Leo stays deleted");
        let (_, page) = app.get(&format!("/children/{}/items?limit=100", self.mia), g).await;
        let mut listed: Vec<String> =
            page["items"].as_array().unwrap().iter().map(|i| i["item_id"].as_str().unwrap().to_owned()).collect();
        listed.sort();
        let late_listed = listed.contains(&self.late);
        if let Some(survives) = late_survives {
            assert_eq!(late_listed, survives, "{what}: the recording ingested after the first backup");
        }
        let mut want = vec![self.keep.clone(), self.keep_tr.clone()];
        if late_listed {
            want.push(self.late.clone());
            let audio = fetch(&app.http, app.url(&format!("/items/{}/content", self.late)), g).await;
            assert_eq!(audio.status(), StatusCode::OK, "{what}: listed, so readable");
        }
        want.sort();
        assert_eq!(listed, want, "{what}: exactly the survivors are listed");
        let (s, t) = app.get(&format!("/items/{}", self.keep_tr), g).await;
        assert_eq!((s, t["content"].as_str()), (StatusCode::OK, Some("words that stay")), "{what}");
        let audio = fetch(&app.http, app.url(&format!("/items/{}/content", self.keep)), g).await;
        assert_eq!(audio.bytes().await.unwrap().to_vec(), self.keep_audio, "{what}");
        for gone in &self.gone {
            let (s, _) = app.get(&format!("/items/{gone}"), g).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "{what}: {gone} came back");
        }
        let (s, _) = app.get(&format!("/children/{}", self.leo), g).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{what}");
        assert!(ok(run(root, &["ledger", "verify"])).contains("ledger OK"), "{what}");
    }
}

#[tokio::test]
async fn restores_bring_back_survivors_and_never_the_deleted() {
    let s = scene().await;
    let before = s.before.to_str().unwrap().to_owned();
    let after = s.after.to_str().unwrap().to_owned();
    // (backup, parts, whether `late` survives, what). With keys from before
    // it and data from after, `late` survives if its key was made ahead of
    // the backup (keys are made 32 at a time), and is deleted again if not.
    let cases = [
        (&before, "data", Some(false), "data from before the deletions, live keys"),
        (&before, "both", Some(false), "data and keys from before the deletions"),
        (&before, "keys", None, "keys from before the deletions, live data"),
        (&after, "data", Some(true), "data from after the deletions, live keys"),
        (&after, "both", Some(true), "data and keys from after the deletions"),
    ];
    for (backup, parts, late, what) in cases {
        let dir = s.copy();
        let said = ok(run(dir.path(), &["restore", "--from", backup, "--parts", parts]));
        assert!(said.contains("restored"), "{said}");
        if on_postgres() && parts != "data" && backup == &before {
            // Leo's key, and the deleted recording's and transcript's, never
            // entered the database (not even as a dead row or a WAL record).
            let left_out: u32 = said
                .split(" keys of what was deleted since")
                .next()
                .unwrap()
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(left_out >= 4, "{what}: {said}");
        }
        s.check(dir.path(), late, what).await;
    }
    // A restore from before the deletions rolled the ledger back: recorded.
    let dir = s.copy();
    ok(run(dir.path(), &["restore", "--from", &before, "--parts", "data"]));
    let p = run_binary(dir.path(), &[]);
    let app = TestApp::attach(&p.base, tempfile::tempdir().unwrap());
    let auditor = staff(&app, dir.path(), "auditor").await;
    let note = app.http.get(app.url("/ledger/checkpoint")).send().await.unwrap().text().await.unwrap();
    let size: u64 = note.lines().nth(1).unwrap().parse().unwrap();
    let mut kinds = Vec::new();
    for i in 0..size {
        let (_, e) = app.get(&format!("/ledger/entries/{i}"), &auditor).await;
        kinds.push(e["kind"].as_str().unwrap_or_default().to_owned());
    }
    assert!(kinds.iter().any(|k| k == "ledger.rollback"), "{kinds:?}");
    assert!(
        kinds.iter().filter(|k| *k == "deletion.completed").count() >= 2,
        "the deletions are done again: {kinds:?}"
    );
}

#[tokio::test]
async fn an_expired_or_altered_backup_is_refused_and_changes_nothing() {
    let s = scene().await;
    let dir = s.copy();
    let root = dir.path();
    // The files of the data directory, and on PostgreSQL every row of the tables restores replace.
    let fingerprint = |root: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        let mut files: Vec<_> =
            walk(&root.join("data")).into_iter().map(|f| (f.clone(), std::fs::read(&f).unwrap())).collect();
        files.sort();
        if let Some(url) = database_of(root) {
            for table in ["children", "items", "deletions", "ledger_entries", "kidvault_keys.item_keys"] {
                let rows = kidvault_store_postgres::testing::table_digest(&url, table);
                files.push((PathBuf::from(table), rows));
            }
        }
        files
    };
    let unchanged = fingerprint(root);

    // Altered: one byte of the sealed part flipped.
    let mut bytes = std::fs::read(&s.before).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    let altered = root.join("altered.kvb");
    std::fs::write(&altered, &bytes).unwrap();
    let out = run(root, &["restore", "--from", altered.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("damaged or altered"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(fingerprint(root) == unchanged, "an altered backup changed the deployment");

    // Past the window: its key is destroyed, in no file, and it opens nothing.
    let keys = rusqlite::Connection::open(root.join("keys/backup-keys.db")).unwrap();
    let wrapped: Vec<Vec<u8>> = keys
        .prepare("SELECT wrapped FROM backup_keys")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    drop(keys);
    assert_eq!(wrapped.len(), 2);
    let listed = ok(run(root, &["backup", "list"]));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    let later = (chrono::Utc::now() + chrono::Duration::days(31)).format("%Y-%m-%d").to_string();
    let said = ok(run(root, &["backup", "expire", "--as-of", &later]));
    assert!(said.starts_with("2 backup keys destroyed"), "{said}");
    for file in walk(&root.join("keys")) {
        let raw = std::fs::read(&file).unwrap();
        for w in &wrapped {
            assert!(
                !raw.windows(w.len()).any(|x| x == w.as_slice()),
                "an expired backup key is still in {}",
                file.display()
            );
        }
    }
    let out = run(root, &["restore", "--from", s.before.to_str().unwrap()]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("expired") || said.contains("not made by this deployment"), "{said}");
    assert!(fingerprint(root) == unchanged, "an expired backup changed the deployment");
    assert_eq!(ok(run(root, &["backup", "list"])), "");
}

/// The seal chain moves on after a backup and forgets the generation the
/// backup's keystore was sealed under (well within the backup window):
/// restoring that backup's keys still brings back every survivor, readable,
/// and the restored rows are sealed under the chain's newest generation.
#[tokio::test]
async fn a_keys_backup_restores_after_the_seal_chain_forgot_what_it_was_sealed_under() {
    const ENV: [(&str, &str); 2] = [("KIDVAULT_KEY_RESEAL_HOURS", "24"), ("KIDVAULT_BACKUP_WINDOW_DAYS", "3")];
    let with_env = |root: &Path, args: &[&str]| kidvault_with(root, args, &ENV);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut p = run_binary_with(&root, &[], &ENV);
    let app = TestApp::attach(&p.base, dir);
    let (g, mia, device) = household(&app, "ana@example.org").await;
    let audio = wav(0.4, 5).0;
    let (_, rec) = app.upload(&mia, &device, audio.clone(), Some("audio/wav")).await;
    let rec = rec["item_id"].as_str().unwrap().to_owned();
    let tr = text(&app, &mia, &device, &rec, "words that stay").await;
    let backup = root.join("keys-then.kvb");
    ok(with_env(&root, &["backup", "create", "--to", backup.to_str().unwrap()]));
    terminate(&mut p);

    // Two days of sweeps: generations 1 and 2 begin, generation 0 (the one the
    // backup's rows were sealed under) is forgotten.
    let now = chrono::Utc::now();
    for day in [1, 2] {
        let as_of = (now + chrono::Duration::days(day) + chrono::Duration::minutes(day)).to_rfc3339();
        let out = with_env(&root, &["sweep", "--as-of", &as_of]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        if day == 2 {
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(said.contains("forgot the seal generations before 1"), "{said}");
        }
    }

    let said = ok(with_env(&root, &["restore", "--from", backup.to_str().unwrap(), "--parts", "keys"]));
    assert!(said.contains("restored the keystore"), "{said}");
    let (_, row) = keystore_item_key(&root, &rec).unwrap();
    assert!(
        kidvault_crypto::chain::generation_of(&row).is_some_and(|gen| gen >= 1),
        "a restored row is sealed under a generation the chain still holds"
    );
    let mut p = run_binary_with(&root, &[], &ENV);
    let app = TestApp::attach(&p.base, app.detach());
    let (s, t) = app.get(&format!("/items/{tr}"), &g).await;
    assert_eq!((s, t["content"].as_str()), (StatusCode::OK, Some("words that stay")), "{t}");
    let got = fetch(&app.http, app.url(&format!("/items/{rec}/content")), &g).await;
    assert_eq!(got.bytes().await.unwrap().to_vec(), audio);
    terminate(&mut p);
}
