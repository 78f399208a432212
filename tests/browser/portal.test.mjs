// The guardian portal in a real browser: Debian's Chromium, driven by
// playwright-core, against the real kidvault binary with its demo household.
// Run by scripts/test after the Rust suite (it uses target/debug/kidvault).
// Screenshots of the main pages go to target/browser-screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";

const root = resolve(import.meta.dirname, "../..");
const binary = process.env.KIDVAULT_BIN ?? join(root, "target/debug/kidvault");
const shots = join(root, "target/browser-screenshots");
const chromiumPath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const DEMO = { email: "demo@kidvault.example", password: "kidvault-demo-parent" };

let server, base, browser, dir;

function startServer() {
  dir = mkdtempSync(join(tmpdir(), "kidvault-browser-"));
  const child = spawn(binary, ["serve", "--demo", "--listen", "127.0.0.1:0",
    "--data-dir", join(dir, "data"), "--key-file", join(dir, "keys/root.key")],
    { stdio: ["ignore", "pipe", "pipe"] });
  return new Promise((resolveUrl, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`kidvault did not start:\n${out}`)), 60_000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.:]+)/);
      if (m) { clearTimeout(timer); resolveUrl([child, m[1]]); }
    });
    child.stderr.on("data", (d) => { out += d; });
    child.on("exit", (code) => reject(new Error(`kidvault exited (${code}):\n${out}`)));
  });
}

// A staff account of `role` created with the CLI beside the running server and
// signed in with its key and the current code of its TOTP secret: a session token.
async function staffSession(role) {
  const created = spawnSync(binary, ["admin", "create", "--name", "Sam", "--role", role,
    "--data-dir", join(dir, "data"), "--key-file", join(dir, "keys/root.key")], { encoding: "utf8" });
  assert.equal(created.status, 0, created.stderr);
  const { key, totp_secret } = JSON.parse(created.stdout);
  const { createHmac } = await import("node:crypto");
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let bits = "";
  for (const c of totp_secret.toUpperCase()) bits += alphabet.indexOf(c).toString(2).padStart(5, "0");
  const secret = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 1000 / 30)));
  const mac = createHmac("sha1", secret).update(counter).digest();
  const offset = mac[mac.length - 1] & 15;
  const code = String((mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000).padStart(6, "0");
  const r = await fetch(`${base}/api/v1/staff/sign-in`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ key, code }),
  });
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()).token;
}

before(async () => {
  mkdirSync(shots, { recursive: true });
  [server, base] = await startServer();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required"],
  });
});

after(async () => {
  await browser?.close();
  // Wait for the server to finish its clean stop (it still writes to its key
  // directory: the last checkpoint, the unused item keys destroyed) before
  // removing the directory.
  if (server && server.exitCode === null && server.signalCode === null) {
    const exited = new Promise((resolve) => server.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function signIn(page, { email, password }) {
  await page.goto(`${base}/portal`);
  assert.match(page.url(), /\/portal\/sign-in/, "a page needs a session: sent to sign in");
  await page.locator("#email").fill(email);
  await page.locator("#password").fill(password);
  await page.locator("form[action='/portal/sign-in'] button[type=submit]").click();
  await page.waitForURL(`${base}/portal`);
}

test("a parent hears a recording, deletes it with what was derived, and gets a verifiable receipt", async () => {
  const context = await browser.newContext({
    acceptDownloads: true, viewport: { width: 1100, height: 900 }, timezoneId: "America/Los_Angeles",
  });
  const page = await context.newPage();
  const cspViolations = [];
  page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });

  await signIn(page, DEMO);
  await assert.doesNotReject(page.getByText("Signed in as").waitFor());
  const children = page.locator("article.child");
  assert.equal(await children.count(), 2, "the demo household has two children");
  await page.screenshot({ path: join(shots, "household.png"), fullPage: true });

  // The first child's voice history: recordings with their transcripts beside them.
  await children.first().getByRole("link", { name: "Voice history" }).click();
  const recording = page.locator("li.kind-voice_recording").first();
  await recording.waitFor();
  const recordingId = (await recording.getAttribute("id")).replace("item-", "");
  // Times are the parent's: the zone the browser reported at sign-in, named on
  // the page, and each time the browser's own clock reading of the instant.
  assert.match(await page.locator(".who").innerText(), /times in America\/Los Angeles/);
  const time = recording.locator("time").first();
  const instant = new Date(await time.getAttribute("datetime"));
  const local = instant.toLocaleTimeString("en-US", { timeZone: "America/Los_Angeles", hour: "numeric", minute: "2-digit" });
  assert.equal((await time.innerText()).toLowerCase(), local.toLowerCase());
  const dayLabel = await recording.locator("xpath=ancestor::section[1]").getAttribute("aria-label");
  assert.equal(dayLabel, instant.toLocaleDateString("en-CA", { timeZone: "America/Los_Angeles" }), "its day is the parent's day");
  const transcript = recording.locator("li.kind-transcript blockquote").first();
  assert.ok((await transcript.innerText()).length > 0, "the transcript is shown beside its recording");
  const transcriptId = (await recording.locator("li.kind-transcript").first().getAttribute("id")).replace("item-", "");

  // It plays: the audio element loads the decrypted WAV and reaches canplay, and can seek.
  const played = await recording.locator("audio").first().evaluate((audio) => new Promise((done, fail) => {
    audio.addEventListener("canplay", () => done({ duration: audio.duration }), { once: true });
    audio.addEventListener("error", () => fail(new Error("audio error " + audio.error?.code)), { once: true });
    audio.preload = "auto";
    audio.load();
  }));
  assert.ok(played.duration > 0.1, `a real recording (${played.duration}s)`);
  await page.screenshot({ path: join(shots, "timeline.png"), fullPage: false });

  // Take everything away: the export's manifest names the recording, and its
  // audio in the archive is exactly what the page played.
  const [exported] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Export everything (zip)" }).click(),
  ]);
  const zipPath = join(dir, "export.zip");
  await exported.saveAs(zipPath);
  const listed = spawnSync("python3", ["-c", `
import sys, json, zipfile, hashlib
z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None
m = json.loads(z.read("manifest.json"))
rec = next(i for i in m["items"] if i["id"] == sys.argv[2])
print(json.dumps({"derived": rec["derived"], "sha": hashlib.sha256(z.read(rec["file"])).hexdigest(), "n": len(m["items"])}))
`, zipPath, recordingId], { encoding: "utf8" });
  assert.equal(listed.status, 0, listed.stderr);
  const inZip = JSON.parse(listed.stdout);
  assert.ok(inZip.derived.includes(transcriptId), "the manifest records the transcript as derived from the recording");
  const served = await page.request.get(`${base}/api/v1/items/${recordingId}/content`);
  const { createHash } = await import("node:crypto");
  assert.equal(inZip.sha, createHash("sha256").update(await served.body()).digest("hex"), "the same audio bytes");

  // Delete it: the confirmation says what will go, lineage included.
  await recording.getByRole("link", { name: /Delete this voice recording/ }).first().click();
  const willGo = await page.locator("ul.will-go").innerText();
  assert.match(willGo, /1 voice recording/);
  assert.match(willGo, /1 transcript/);
  await page.screenshot({ path: join(shots, "confirm-delete.png"), fullPage: true });
  await page.getByRole("button", { name: "Delete permanently" }).click();
  await page.waitForURL(/\/portal\/deletions\/[0-9a-f-]+$/);
  const deletionId = page.url().split("/").pop();

  // The page follows the deletion to its end, then offers the receipt.
  await page.locator('#deletion[data-step="completed"]').waitFor({ timeout: 30_000 });
  // The receipt is checked in the page, against nothing but the log's published key.
  await page.locator('#receipt-check[data-checked]').waitFor({ timeout: 10_000 });
  assert.match(await page.locator("#receipt-check").innerText(), /^Checked in your browser: valid\. kidvault's log signed it as record \d+ of \d+/);
  // A receipt altered on its way (one word of its text) is caught by the same check.
  await page.route("**/api/v1/deletions/*/receipt", async (route) => {
    const real = await (await route.fetch()).json();
    real.document = real.document.replace("deletion_id", "deletion_ix");
    await route.fulfill({ json: real });
  });
  await page.reload();
  await page.locator('#receipt-check[data-checked]').waitFor({ timeout: 10_000 });
  assert.match(await page.locator("#receipt-check").innerText(), /NOT valid\. The receipt's text is not what the log recorded/);
  await page.unroute("**/api/v1/deletions/*/receipt");
  await page.reload();
  await page.screenshot({ path: join(shots, "deletion.png"), fullPage: true });
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download the signed receipt" }).click(),
  ]);
  const receiptPath = join(dir, "receipt.json");
  await download.saveAs(receiptPath);
  const receipt = JSON.parse(readFileSync(receiptPath, "utf8"));
  const body = JSON.parse(receipt.document);
  assert.equal(body.deletion_id, deletionId);
  assert.ok(body.items >= 2, "the recording and everything derived from it");
  // Verified offline, by the CLI, against the key the server publishes.
  const keyPath = join(dir, "ledger.pub");
  writeFileSync(keyPath, await (await page.request.get(`${base}/api/v1/ledger/public-key`)).text());
  const verified = spawnSync(binary, ["verify-receipt", receiptPath, "--public-key", keyPath], { encoding: "utf8" });
  assert.equal(verified.status, 0, verified.stdout + verified.stderr);

  // Gone from the timeline and from the API.
  await page.goto(`${base}/portal`);
  await page.locator("article.child").first().getByRole("link", { name: "Voice history" }).click();
  assert.equal(await page.locator(`#item-${recordingId}`).count(), 0);
  assert.equal(await page.locator(`#item-${transcriptId}`).count(), 0);
  const gone = await page.request.get(`${base}/api/v1/items/${transcriptId}`);
  assert.equal(gone.status(), 404);

  // The deletions page lists it with its receipt; the mailbox has the notice.
  await page.getByRole("link", { name: "Deletions" }).click();
  const row = page.locator(`tr[data-deletion="${deletionId}"]`);
  await assert.doesNotReject(row.getByRole("link", { name: "Download receipt" }).waitFor());
  await page.screenshot({ path: join(shots, "deletions.png"), fullPage: true });
  await page.getByRole("link", { name: "Mailbox" }).click();
  await page.locator(`article.notice a[href="/portal/deletions/${deletionId}"]`).waitFor({ timeout: 10_000 });
  await page.screenshot({ path: join(shots, "mailbox.png"), fullPage: true });

  // The activity page tells the deletion in a sentence, with its signed copy to download.
  await page.getByRole("link", { name: "Household" }).click();
  await page.locator("article.child").first().getByRole("link", { name: /Activity/ }).click();
  const completed = page.locator('li[data-kind="deletion.completed"]').first();
  await completed.waitFor();
  assert.match(await completed.innerText(), /A deletion was completed \(you asked\): \d+ things deleted for good/);
  const [proofDownload] = await Promise.all([
    page.waitForEvent("download"),
    completed.getByRole("link", { name: "Signed copy of this line" }).click(),
  ]);
  const proof = JSON.parse(readFileSync(await proofDownload.path(), "utf8"));
  assert.ok(Array.isArray(proof.inclusion_proof) && proof.checkpoint, "an inclusion proof and its checkpoint");
  await page.screenshot({ path: join(shots, "activity.png"), fullPage: false });

  assert.deepEqual(cspViolations, [], "nothing on the pages breaks the Content-Security-Policy");
  await context.close();
});

/** A short mono 16-bit 16 kHz WAV: a 300 Hz tone. */
function wav(seconds = 0.6) {
  const rate = 16000, n = Math.round(rate * seconds);
  const b = Buffer.alloc(44 + n * 2);
  b.write("RIFF", 0); b.writeUInt32LE(36 + n * 2, 4); b.write("WAVE", 8); b.write("fmt ", 12);
  b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22); b.writeUInt32LE(rate, 24);
  b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32); b.writeUInt16LE(16, 34); b.write("data", 36);
  b.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) b.writeInt16LE(Math.round(8000 * Math.sin(2 * Math.PI * 300 * i / rate)), 44 + i * 2);
  return b;
}

test("a new parent signs up, adds a child, consents, pairs a device, hears it, withdraws, on a phone", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const page = await context.newPage();
  await page.goto(`${base}/portal/sign-up`);
  await page.getByLabel("Your name").fill("Rosa");
  await page.getByLabel("E-mail").fill("rosa@example.org");
  await page.getByLabel(/Password/).fill("a long enough passphrase");
  await page.getByRole("button", { name: "Create the account" }).click();
  // The same answer for any address; the link arrives by e-mail (the demo's inbox).
  await page.waitForURL(`${base}/portal/sign-up/sent`);
  assert.match(await page.locator("#sign-up-sent").innerText(), /We sent an e-mail to the address you gave/);
  await page.goto(`${base}/portal/demo-inbox`);
  const mail = page.locator("article.notice", { hasText: "rosa@example.org" });
  await mail.getByRole("link").click();
  await page.getByRole("button", { name: "Create my account" }).click();
  await page.waitForURL(`${base}/portal`);
  await assert.doesNotReject(page.getByText("Signed in as Rosa").waitFor());

  // A new child starts with nothing allowed; consent is one switch per permission.
  await page.getByLabel("Name or nickname").fill("Pip");
  await page.getByLabel("Birth year").fill(String(new Date().getFullYear() - 6));
  await page.getByRole("button", { name: "Add the child" }).click();
  await page.waitForURL(/\/consent$/);
  const child = page.url().split("/").at(-2);
  await assert.doesNotReject(page.getByText("Nothing may be collected for this child.").waitFor());
  assert.equal(await page.getByLabel(/Voice/).isChecked(), true, "voice is on by default");
  assert.equal(await page.getByLabel(/Model training/).isChecked(), false, "training is off by default");
  assert.equal(await page.getByLabel(/Precise location/).isChecked(), false, "location is off by default");
  await page.getByLabel(/Precise location/).check();
  await page.getByLabel("How you verified").selectOption("signed_form");
  await page.getByLabel(/Reference of the verification/).fill("form-2026-0042");
  await page.getByRole("button", { name: "Record consent" }).click();
  await page.locator("ul.scopes", { hasText: "Voice" }).waitFor();
  await page.screenshot({ path: join(shots, "consent-phone.png"), fullPage: true });

  // Pair a device as TVs do it: the device asks for a code and shows it; the
  // parent types the 8 letters; the device's polling collects its token.
  const asked = await (await fetch(`${base}/api/v1/device/code`, { method: "POST" })).json();
  assert.match(asked.user_code, /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/);
  const poll = async () => {
    const r = await fetch(`${base}/api/v1/device/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: asked.device_code }),
    });
    return { status: r.status, body: await r.json() };
  };
  const pending = await poll();
  assert.deepEqual([pending.status, pending.body.error], [400, "authorization_pending"]);
  await page.goto(`${base}/portal/children/${child}/devices`);
  await page.getByLabel("The code on the device").fill(asked.user_code.toLowerCase().replace("-", " "));
  await page.getByLabel("Name it").fill("Pip's speaker");
  await page.getByRole("button", { name: "Pair" }).click();
  await page.locator("#paired", { hasText: "Pip's speaker is paired" }).waitFor();
  assert.match(page.url(), /\/devices\?paired=/, "the form redirected: a reload pairs nothing more");
  await page.reload();
  assert.equal(await page.locator("tr[data-device]").count(), 1, "one device, however often the page is reloaded");
  await page.screenshot({ path: join(shots, "devices-phone.png"), fullPage: true });
  const collected = await poll();
  assert.equal(collected.status, 200, JSON.stringify(collected.body));
  const token = collected.body.access_token;
  assert.match(token, /^kvd_/);
  assert.equal((await poll()).body.error, "invalid_grant", "the token is given once");

  // The device talks to the API; the parent sees and hears the result.
  const device = (path, body, type) => fetch(`${base}/api/v1/children/${child}${path}`, {
    method: "POST", body, headers: { authorization: `Bearer ${token}`, "content-type": type },
  });
  const rec = await device("/recordings", wav(), "audio/wav");
  assert.equal(rec.status, 201);
  const recId = (await rec.json()).item_id;
  const tr = await device("/items", JSON.stringify({ kind: "transcript", derived_from: [recId], content: "can you sing the moon song" }), "application/json");
  assert.equal(tr.status, 201);
  for (const [lat, lon] of [[52.3702, 4.8952], [52.3731, 4.8922]]) {
    const loc = await device("/locations", JSON.stringify({ lat, lon, accuracy_m: 8 }), "application/json");
    assert.equal(loc.status, 201);
  }
  await page.goto(`${base}/portal/children/${child}`);
  const item = page.locator(`#item-${recId}`);
  assert.match(await item.locator("blockquote.transcript").innerText(), /can you sing the moon song/);
  const ready = await item.locator("audio").evaluate((audio) => new Promise((done, fail) => {
    audio.addEventListener("canplay", () => done(audio.duration), { once: true });
    audio.addEventListener("error", () => fail(new Error("audio error " + audio.error?.code)), { once: true });
    audio.preload = "auto";
    audio.load();
  }));
  assert.ok(Math.abs(ready - 0.6) < 0.05, `the uploaded 0.6 s plays back (${ready})`);

  // Locations: drawn in the page, no map tiles from elsewhere.
  await page.goto(`${base}/portal/children/${child}/locations`);
  assert.equal(await page.locator("svg.plot circle").count(), 2);
  assert.equal(await page.locator("table.locations tbody tr").count(), 2);
  await page.screenshot({ path: join(shots, "locations-phone.png"), fullPage: true });

  // Withdraw voice: the very next recording is refused.
  await page.goto(`${base}/portal/children/${child}/consent`);
  await page.locator("ul.scopes li", { hasText: "Voice" }).getByRole("button", { name: "Withdraw" }).click();
  await page.locator("table", { hasText: "withdrawn" }).waitFor();
  assert.match(await page.locator("table").innerText(), /Voice \(withdrawn/);
  const refused = await device("/recordings", wav(), "audio/wav");
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, "consent_required");

  // Revoke the device: refused from its next request.
  await page.goto(`${base}/portal/children/${child}/devices`);
  await page.getByRole("button", { name: /Revoke/ }).click();
  await page.locator("td", { hasText: "revoked" }).waitFor();
  const revoked = await device("/locations", JSON.stringify({ lat: 1, lon: 1, accuracy_m: 5 }), "application/json");
  assert.equal(revoked.status, 401);
  await context.close();
});

test("a parent allows model training, sees who received what, turns it off, and the company is asked to delete", async () => {
  // An admin registers a training company.
  const admin = await staffSession("admin");
  const registered = await fetch(`${base}/api/v1/admin/processors`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "Tutor Labs", url: "http://127.0.0.1:9/hook", purpose: "training", categories: ["user.content"] }),
  });
  assert.equal(registered.status, 201);
  const { id: processor, secret } = await registered.json();
  const { createHmac } = await import("node:crypto");
  // The company asks for what it may receive, signed with its secret.
  const feed = async (limit) => {
    const body = JSON.stringify({ processor_id: processor, limit });
    const t = Math.floor(Date.now() / 1000);
    const sig = createHmac("sha256", secret).update(`${t}.${body}`).digest("hex");
    const r = await fetch(`${base}/api/v1/processor-feed`, {
      method: "POST", body, headers: { "kidvault-signature": `t=${t},v1=${sig}`, "content-type": "application/json" },
    });
    assert.equal(r.status, 200);
    return r.json();
  };
  assert.equal((await feed(5)).items.length, 0, "nothing before the parent allows training");

  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await signIn(page, DEMO);
  await page.locator("article.child").first().getByRole("link", { name: "Voice history" }).click();
  const child = page.url().split("/").at(-1).split("?")[0];
  await page.goto(`${base}/portal/children/${child}/consent`);
  await assert.doesNotReject(
    page.getByText("Tutor Labs (trains or improves models, only if you allow it) receives nothing unless you allow “Model training”.").waitFor());

  // Allow training: the company now receives the child's words, and the page says so.
  await page.getByLabel(/Model training/).check();
  await page.getByLabel("How you verified").selectOption("signed_form");
  await page.getByLabel(/Reference of the verification/).fill("form-training-1");
  await page.getByRole("button", { name: "Record consent" }).click();
  await page.locator("ul.scopes", { hasText: "Model training" }).waitFor();
  await assert.doesNotReject(page.getByText(/Tutor Labs \(trains or improves models, only if you allow it\) receives pieces of what was said or understood now/).waitFor());
  const first = await feed(1);
  assert.equal(first.items.length, 1);
  assert.equal(first.items[0].child_id, child);
  assert.equal(first.more, true, "more is waiting");

  await page.getByRole("link", { name: "See what each has received" }).click();
  await assert.doesNotReject(page.getByText(/Tutor Labs \(trains or improves models, only if you allow it\) received 1 piece of what was said or understood/).waitFor());
  await page.screenshot({ path: join(shots, "shared.png"), fullPage: true });

  // Turn it off: the next request gets nothing, and the company is asked to delete.
  await page.goto(`${base}/portal/children/${child}/consent`);
  await page.locator("ul.scopes li", { hasText: "Model training" }).getByRole("button", { name: "Withdraw" }).click();
  await page.locator("ul.scopes li", { hasText: "Model training" }).waitFor({ state: "detached" });
  const after = await feed(5);
  assert.deepEqual([after.items.length, after.more], [0, false], "nothing after the parent turned training off");
  await page.goto(`${base}/portal/children/${child}/shared`);
  await assert.doesNotReject(page.getByText(/Asked to delete everything it received, because you withdrew your permission/).waitFor());
  await page.screenshot({ path: join(shots, "shared-recalled.png"), fullPage: true });
  await context.close();
});

test("a parent lets support look, sees who looked and why, ends it, and support is refused", async () => {
  const support = await staffSession("support");
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  await signIn(page, DEMO);
  await page.locator("article.child").first().getByRole("link", { name: "Voice history" }).click();
  const child = page.url().split("/").at(-1).split("?")[0];
  await page.getByRole("link", { name: "Who has seen it" }).click();
  await page.locator(".support-off").waitFor();
  const staffGet = (path) => fetch(`${base}/api/v1${path}`, {
    headers: { authorization: `Bearer ${support}`, "kidvault-purpose": "support_ticket", "kidvault-ticket": "4821" },
  });
  const before = await staffGet(`/staff/children/${child}/items?kind=voice_recording&limit=1`);
  assert.equal(before.status, 200, "support may see the list (metadata) for a ticket");
  const [recording] = (await before.json()).items;
  const refused = await staffGet(`/staff/items/${recording.item_id}/content`);
  assert.equal(refused.status, 403);
  assert.equal((await refused.json()).error.code, "guardian_grant_required");

  // The parent lets support look for 24 hours.
  await page.getByLabel("For how long").selectOption("24");
  await page.getByRole("button", { name: /Let support see/ }).click();
  await page.locator(".support-on").waitFor();
  const heard = await staffGet(`/staff/items/${recording.item_id}/content`);
  assert.equal(heard.status, 200);
  assert.equal(heard.headers.get("content-type"), "audio/wav");

  // The page says, in a sentence, who listened, why and on what permission.
  await page.reload();
  await assert.doesNotReject(page.locator("li.staff-look", {
    hasText: /^Support \(ticket 4821, to answer a support request, with your permission until \d+ \w+\) listened to a recording on \d+ \w+\./,
  }).waitFor());
  const text = await page.locator("main").innerText();
  assert.doesNotMatch(text, /access\.read|staff:support|guardian:/, "no raw codes or ids");
  assert.match(text, /No one else\./);
  await page.screenshot({ path: join(shots, "who-has-seen.png"), fullPage: true });

  // Viewing the page adds nothing to it.
  const looks = await page.locator("li.staff-look").count();
  const household = await page.locator(".household-looks").innerText();
  await page.reload();
  assert.equal(await page.locator("li.staff-look").count(), looks);
  assert.equal(await page.locator(".household-looks").innerText(), household);

  // The parent ends it; support's next request is refused.
  await page.getByRole("button", { name: "End support's access now" }).click();
  await page.locator(".support-off").waitFor();
  const after = await staffGet(`/staff/items/${recording.item_id}/content`);
  assert.equal(after.status, 403);
  assert.equal((await after.json()).error.code, "guardian_grant_required");
  await context.close();
});

const LA = "America/Los_Angeles";

/** The instant of `hh:mm` in Los Angeles on the day `daysAgo` days before today there. */
function laInstant(daysAgo, hh, mm) {
  const day = new Date(Date.now() - daysAgo * 86_400_000).toLocaleDateString("en-CA", { timeZone: LA });
  const [y, m, d] = day.split("-").map(Number);
  const want = Date.UTC(y, m - 1, d, hh, mm);
  const wall = (t) => {
    const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", {
      timeZone: LA, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    }).formatToParts(new Date(t)).map((x) => [x.type, x.value]));
    return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute);
  };
  let t = want + 8 * 3_600_000;
  for (let i = 0; i < 2; i++) t += want - wall(t);
  return new Date(t);
}

const laDay = (t) => t.toLocaleDateString("en-CA", { timeZone: LA });
const laLongDate = (t) => t.toLocaleDateString("en-GB", { timeZone: LA, day: "numeric", month: "long", year: "numeric" });

test("a parent's five tasks, each within three clicks of the household page, in Los Angeles time, on a desktop and on a phone", async () => {
  for (const [size, viewport] of [["desktop", { width: 1280, height: 900 }], ["phone", { width: 390, height: 844 }]]) {
    const context = await browser.newContext({ viewport, timezoneId: LA });
    const page = await context.newPage();
    await signIn(page, DEMO);
    const leoCard = () => page.locator("article.child", { has: page.getByRole("heading", { name: "Leo" }) });
    const leo = (await leoCard().getAttribute("id")).replace("child-", "");
    let clicks = 0;
    const click = async (locator) => { clicks += 1; await locator.click(); };
    const task = async (name, body) => {
      await page.goto(`${base}/portal`);
      clicks = 0;
      await body();
      assert.ok(clicks <= 3, `${size}: "${name}" took ${clicks} clicks from the household page`);
    };

    // A device paired as TVs do it: it shows a code, the parent types it and picks the child.
    const asked = await (await fetch(`${base}/api/v1/device/code`, { method: "POST" })).json();
    await page.goto(`${base}/portal/pair`);
    await page.getByLabel("The code on the device").fill(asked.user_code);
    await page.getByLabel("Whose device is it?").selectOption(leo);
    const tablet = `Leo's ${size} tablet`;
    await page.getByLabel("Name it").fill(tablet);
    await page.getByRole("button", { name: "Pair" }).click();
    await page.waitForURL(/\/devices\?paired=/);
    const polled = await fetch(`${base}/api/v1/device/token`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ grant_type: "urn:ietf:params:oauth:grant-type:device_code", device_code: asked.device_code }),
    });
    assert.equal(polled.status, 200);
    const token = (await polled.json()).access_token;
    const send = async (path, body, type) => {
      const r = await fetch(`${base}/api/v1/children/${leo}${path}`, {
        method: "POST", body, headers: { authorization: `Bearer ${token}`, "content-type": type },
      });
      assert.equal(r.status, 201, await r.clone().text());
      return (await r.json()).item_id;
    };
    // What Leo said, at Los Angeles times: the evening before, late, is the
    // next day in UTC, the mistake a UTC portal makes.
    const say = async (at, text, intent) => {
      const rec = await send(`/recordings?recorded_at=${encodeURIComponent(at.toISOString())}`, wav(), "audio/wav");
      const words = await send("/items", JSON.stringify({ kind: "transcript", derived_from: [rec], content: text, recorded_at: at }), "application/json");
      if (intent) await send("/items", JSON.stringify({ kind: "intent", derived_from: [words], content: intent, recorded_at: at }), "application/json");
      return { rec, at };
    };
    const earlier = await say(laInstant(2, 20, 0), "tell me about sharks");
    const morning = await say(laInstant(1, 7, 15), "what is the weather today");
    const evening = await say(laInstant(1, 21, 30), "read me the bedtime story",
      { intent: "play_story", slot: "the bedtime story", confidence: 0.97 });
    const today = await say(new Date(Date.now() - 60_000), "good morning");
    const yesterday = laDay(evening.at);
    assert.notEqual(yesterday, evening.at.toISOString().slice(0, 10), "9:30 pm in Los Angeles is the next day in UTC");

    // 1. What did Leo say yesterday evening? Listen, read the words, and what the assistant understood.
    await task("what did my child say yesterday evening", async () => {
      await click(leoCard().getByRole("link", { name: "Voice history" }));
      assert.match(await page.locator(".who").innerText(), /times in America\/Los Angeles/);
      const item = page.locator(`section.day[aria-label="${yesterday}"] #item-${evening.rec}`);
      await item.waitFor();
      assert.equal((await item.locator("time").first().innerText()).toLowerCase(), "9:30 pm");
      assert.match(await item.locator("blockquote.transcript").innerText(), /read me the bedtime story/);
      assert.equal(await item.locator("p.understood").innerText(),
        "The assistant understood: play a story, about “the bedtime story” (sure).");
      const audio = await item.locator("audio").first().evaluate((a) => new Promise((done, fail) => {
        a.addEventListener("canplay", () => done(a.duration), { once: true });
        a.addEventListener("error", () => fail(new Error("audio error " + a.error?.code)), { once: true });
        a.preload = "auto";
        a.load();
      }));
      assert.ok(audio > 0.5, `it plays (${audio} s)`);
      await page.screenshot({ path: join(shots, `task1-yesterday-evening-${size}.png`), fullPage: false });
    });

    // 2. Who has seen or received Leo's data?
    await task("who has seen or received my child's data", async () => {
      await click(leoCard().getByRole("link", { name: "Voice history" }));
      await click(page.getByRole("link", { name: "Who has seen it" }));
      assert.match(await page.locator(".household-looks").innerText(), /You looked at \d+ of Leo's recordings, words or places\./);
      assert.match(await page.locator("main").innerText(), /No one else\./);
      await page.screenshot({ path: join(shots, `task2-who-has-seen-${size}.png`), fullPage: true });
      await click(page.getByRole("link", { name: "Shared with companies" }).first());
      await assert.doesNotReject(page.getByText("Nobody outside kidvault has received Leo's data.").waitFor());
    });

    // 3. Delete: on the desktop yesterday (Los Angeles' day, evening included);
    //    on the phone everything the tablet sent. A preview in plain words first.
    if (size === "desktop") {
      await task("delete yesterday", async () => {
        await click(leoCard().getByRole("link", { name: "Voice history" }));
        await click(page.locator(`section.day[aria-label="${yesterday}"]`).getByRole("link", { name: "Delete this day…" }));
        const card = page.locator("section.card.danger");
        assert.match(await card.locator("h2").innerText(), new RegExp(`^Delete all data recorded on ${laLongDate(evening.at)}, and everything that came from it for Leo\\?$`));
        const said = await card.locator("ul.said").innerText();
        assert.match(said, /9:30 pm: “read me the bedtime story”/);
        assert.match(said, /7:15 am: “what is the weather today”/);
        assert.doesNotMatch(said, /sharks|good morning/, "only that day's words");
        await page.screenshot({ path: join(shots, `task3-delete-yesterday-${size}.png`), fullPage: true });
        await click(page.getByRole("button", { name: "Delete permanently" }));
        await page.locator('#deletion[data-step="completed"]').waitFor({ timeout: 30_000 });
      });
      await page.goto(`${base}/portal/children/${leo}`);
      for (const gone of [evening, morning]) assert.equal(await page.locator(`#item-${gone.rec}`).count(), 0);
      for (const kept of [earlier, today]) assert.equal(await page.locator(`#item-${kept.rec}`).count(), 1, "the evening before and today stay");
      assert.equal(await page.locator(`section.day[aria-label="${yesterday}"]`).count(), 0, "nothing is left of yesterday");
    } else {
      await task("delete everything one device sent", async () => {
        await click(leoCard().getByRole("link", { name: "Devices" }));
        await click(page.getByRole("link", { name: `Delete everything ${tablet} sent…` }));
        const card = page.locator("section.card.danger");
        assert.equal(await card.locator("h2").innerText(), `Delete all data that ${tablet} sent, and everything that came from it for Leo?`);
        assert.match(await card.locator("ul.will-go").innerText(), /4 voice recordings/);
        assert.match(await card.locator("ul.said").innerText(), /9:30 pm: “read me the bedtime story”/);
        await page.screenshot({ path: join(shots, `task3-delete-device-${size}.png`), fullPage: true });
        await click(page.getByRole("button", { name: "Delete permanently" }));
        await page.locator('#deletion[data-step="completed"]').waitFor({ timeout: 30_000 });
      });
      await page.goto(`${base}/portal/children/${leo}`);
      for (const gone of [earlier, morning, evening, today]) assert.equal(await page.locator(`#item-${gone.rec}`).count(), 0);
      assert.ok(await page.locator("li.kind-voice_recording").count() > 0, "what the other devices sent stays");
    }

    // 4. Auto-delete: on the desktop keep each recording 7 days and see the date
    //    each goes; on the phone stop keeping recordings at all.
    await task("choose how long recordings are kept", async () => {
      const select = leoCard().getByLabel("Auto-delete recordings");
      assert.match(await select.locator('option[value="90"]').innerText(), /longer than our policy allows: 30 days/);
      assert.equal(await select.locator('option[value="90"]').isDisabled(), true, "never longer than the written policy");
      await select.selectOption(size === "desktop" ? "7" : "never");
      await click(leoCard().getByRole("button", { name: "Save" }));
      await page.waitForURL(/\/portal#child-/);
      if (size === "desktop") {
        await assert.doesNotReject(leoCard().getByText("Each recording is kept 7 days, then deleted automatically.").waitFor());
        await click(leoCard().getByRole("link", { name: "Voice history" }));
        const goes = new Date(today.at.getTime() + 7 * 86_400_000);
        assert.match(await page.locator(`#item-${today.rec} .auto-delete`).innerText(),
          new RegExp(`^Deleted automatically on ${laLongDate(goes)}, with the words and everything that came from it\\.`));
        await page.screenshot({ path: join(shots, `task4-auto-delete-${size}.png`), fullPage: false });
      } else {
        await assert.doesNotReject(leoCard().getByText("Recordings are not saved: the device answers and forgets.").waitFor());
        await click(leoCard().getByRole("link", { name: "Voice history" }));
        for (let i = 0; i < 120 && await page.locator("li.kind-voice_recording").count() > 0; i++) {
          await new Promise((r) => setTimeout(r, 250));
          await page.reload();
        }
        assert.equal(await page.locator("li.kind-voice_recording").count(), 0, "the recordings already kept are deleted too");
      }
    });

    // 5. What is collected about Leo, why, for how long, and what is on now?
    await task("what do you collect, why, for how long, and what is on", async () => {
      await click(leoCard().getByRole("link", { name: "Consent" }));
      assert.match(await page.locator("ul.scopes").innerText(), /Voice/);
      const kept = await page.locator("#kept").innerText();
      assert.match(kept, size === "desktop"
        ? /Voice recordings: Answer the child's request, and let the parent listen to it\. Kept 7 days, then deleted automatically\./
        : /Voice recordings: Answer the child's request, and let the parent listen to it\. Not kept\./);
      await page.screenshot({ path: join(shots, `task5-what-we-collect-${size}.png`), fullPage: true });
    });
    await context.close();
  }
});

// What a parent must never read on a page: ids, JSON, fideslang keys, the
// ledger's codes, internal terms, or a message's catalogue id (a missing
// translation shows its id).
const JARGON = [
  [/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i, "a raw id"],
  [/\{\s*"|"\w+"\s*:/, "JSON"],
  [/\buser\.[a-z_]+/, "a fideslang key"],
  [/\b[a-z]+:[0-9a-f]{6,}|\baccess\.read\b/, "a ledger code"],
  [/\b(lineage|epochs?|ledger|proofs?|items?|derived|intents?)\b/i, "an internal term"],
  [/\b[a-z]+(-[a-z]+){2,}\b/, "a catalogue id"],
];

test("every portal page has no serious or critical accessibility problem and no jargon, on a phone and on a desktop, in English and in Spanish", async () => {
  const axeSource = readFileSync(join(import.meta.dirname, "node_modules/axe-core/axe.min.js"), "utf8");
  const problems = [];
  const runs = [
    ["phone", { width: 390, height: 844 }, "en-US"],
    ["desktop", { width: 1280, height: 900 }, "en-US"],
    ["phone", { width: 390, height: 844 }, "es-MX"],
    ["desktop", { width: 1280, height: 900 }, "es-MX"],
  ];
  for (const [size, viewport, locale] of runs) {
    // axe is injected as a script of the test's own: this context lets it past the CSP
    // (the other tests check that the pages themselves break none of it). The
    // locale is the browser's Accept-Language: the portal answers in it.
    const context = await browser.newContext({ viewport, locale, bypassCSP: true, timezoneId: "America/Los_Angeles" });
    const page = await context.newPage();
    const lang = locale.slice(0, 2);
    const scan = async (name, path) => {
      await page.goto(`${base}${path}`);
      assert.equal(await page.locator("html").getAttribute("lang"), lang, `${path} in ${locale}`);
      await page.addScriptTag({ content: axeSource });
      const result = await page.evaluate(async () => await window.axe.run(document, { resultTypes: ["violations"] }));
      for (const v of result.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
        problems.push(`${size} ${locale} ${path}: ${v.id} (${v.impact}) ${v.help}: ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", ")}`);
      }
      const text = await page.locator("body").innerText();
      for (const [pattern, what] of JARGON) {
        const m = text.match(pattern);
        if (m) problems.push(`${size} ${locale} ${path}: shows ${what}: "${text.slice(Math.max(0, m.index - 40), m.index + 40).replace(/\s+/g, " ")}"`);
      }
      await page.screenshot({ path: join(shots, `${name}-${size}-${lang}.png`), fullPage: true });
    };
    await scan("sign-in", "/portal/sign-in");
    await scan("sign-up", "/portal/sign-up");
    await scan("sign-up-sent", "/portal/sign-up/sent");
    await scan("demo-inbox", "/portal/demo-inbox");
    await signIn(page, DEMO);
    const child = (await page.locator("article.child").first().getAttribute("id")).replace("child-", "");
    const day = new Date(Date.now() - 86_400_000).toLocaleDateString("en-CA", { timeZone: "America/Los_Angeles" });
    for (const [name, path] of [
      ["household", "/portal"],
      ["voice-history", `/portal/children/${child}`],
      ["search", `/portal/children/${child}?q=moon`],
      ["activity", `/portal/children/${child}/activity`],
      ["locations", `/portal/children/${child}/locations`],
      ["seen", `/portal/children/${child}/seen`],
      ["shared", `/portal/children/${child}/shared`],
      ["consent", `/portal/children/${child}/consent`],
      ["devices", `/portal/children/${child}/devices`],
      ["delete-day", `/portal/children/${child}/delete?day=${day}`],
      ["delete-child", `/portal/children/${child}/delete?what=child`],
      ["deletions", "/portal/deletions"],
      ["mailbox", "/portal/mailbox"],
      ["account", "/portal/account"],
      ["pair", "/portal/pair"],
      ["retention-policy", "/privacy/retention"],
    ]) {
      await scan(name, path);
    }
    await context.close();
  }
  assert.deepEqual(problems, [], `serious or critical accessibility problems:\n${problems.join("\n")}`);
});
