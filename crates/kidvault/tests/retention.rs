//! Retention as code: the policy file drives what is published (CLI, API,
//! portal) and the notice version parents consent to.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kidvault_domain::retention::DEFAULT_POLICY;

fn cli(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_kidvault")).args(args).output().unwrap()
}

#[tokio::test]
async fn the_published_policy_is_generated_from_the_policy_in_force() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/policy/retention")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "public: no sign-in needed");
    let published: Value = resp.json().await.unwrap();
    assert_eq!(published["notice_version"], NOTICE);
    assert_eq!(published["version"], "2026-11-01");
    let md = published["markdown"].as_str().unwrap().to_owned();
    assert!(md.contains("| Voice recordings |"));
    assert_eq!(published["policy"]["dormancy"]["inactive_after_days"], 548);

    // The CLI renders the same text from the same file.
    let out = cli(&["policy", "render", "--format", "md"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), md);
    let html = String::from_utf8(cli(&["policy", "render", "--format", "html"]).stdout).unwrap();
    assert!(html.contains("<td>Voice recordings</td>"));
    // And the portal's public page.
    let page = app.http.get(format!("{}/privacy/retention", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("<td>Voice recordings</td>") && page.contains(NOTICE));

    // A changed policy: new text, new notice version, consent to renew.
    let (g, child, device) = household(&app, "ana@example.org").await;
    let dir = app.stop().await;
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        DEFAULT_POLICY.replace("version = \"2026-11-01\"", "version = \"2027-02\"").replacen(
            "keep_days = 7",
            "keep_days = 3",
            1,
        ),
    )
    .unwrap();
    let config = Config { retention_policy: Some(policy.clone()), ..config_for(dir.path()) };
    let app = start_with(dir, &config).await;
    let published: Value = app.http.get(app.url("/policy/retention")).send().await.unwrap().json().await.unwrap();
    assert_eq!(published["notice_version"], "2026-11-01+retention-2027-02");
    assert!(published["markdown"].as_str().unwrap().contains("| 3 days |"));
    let out = cli(&["policy", "render", "--policy", policy.to_str().unwrap()]);
    assert!(String::from_utf8(out.stdout).unwrap().contains("| 3 days |"));
    let (s, body) = app.upload(&child, &device, wav(0.2, 1).0, Some("audio/wav")).await;
    assert_eq!((s, code(&body)), (StatusCode::FORBIDDEN, "consent_required"), "a new policy needs renewed consent");
    let (_, c) = app.get(&format!("/children/{child}"), &g).await;
    assert_eq!(c["consent_renewal_required"], true);
}

#[test]
fn a_bad_policy_file_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, DEFAULT_POLICY.replace("grace_days = 60", "grace_days = 200")).unwrap();
    let out = cli(&["policy", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let line = DEFAULT_POLICY[..DEFAULT_POLICY.find("grace_days = 60").unwrap()].matches('\n').count() + 1;
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains(&format!("line {line}: grace_days is 200")), "{err}");
    let good = dir.path().join("good.toml");
    std::fs::write(&good, DEFAULT_POLICY).unwrap();
    assert!(cli(&["policy", "check", good.to_str().unwrap()]).status.success());
    // A server will not start on a bad policy.
    let config = dir.path().join("kidvault.toml");
    std::fs::write(&config, format!("retention_policy = {:?}\n", bad.to_str().unwrap())).unwrap();
    let out = cli(&["policy", "render", "--config", config.to_str().unwrap()]);
    assert!(!out.status.success() && String::from_utf8(out.stderr).unwrap().contains("grace period may be at most 90"));
}
