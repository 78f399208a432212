// kidvault portal: the little script it needs, served by kidvault itself.
// Pages work without it; it refreshes a deletion's progress while it runs,
// tells kidvault the browser's time zone at sign-in (times are then shown in
// it), and checks a deletion receipt in the browser, trusting nothing but the
// log's published key: the checkpoint's Ed25519 signature, the receipt's
// place in the log (RFC 9162 inclusion proof) and the receipt's own text.
"use strict";

const enc = new TextEncoder();
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

async function sha256(...parts) {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
}

// Returns a sentence: the receipt is valid, or why it is not.
async function checkReceipt(receiptUrl, keyUrl) {
  const [receipt, vkey] = await Promise.all([
    fetch(receiptUrl).then((r) => r.json()),
    fetch(keyUrl).then((r) => r.text()),
  ]);
  // "name+keyid+base64(0x01 || key)": the base64 may itself hold a "+".
  const [name, keyId, ...rest] = vkey.trim().split("+");
  const keyB64 = rest.join("+");
  const key = await crypto.subtle.importKey("raw", b64(keyB64).slice(1), { name: "Ed25519" }, false, ["verify"]);
  const { entry, index, tree_size: size, inclusion_proof: proof, checkpoint } = receipt.ledger;
  // The checkpoint: signed by the log's key.
  const cut = checkpoint.indexOf("\n\n");
  const text = checkpoint.slice(0, cut) + "\n";
  let signed = false;
  for (const line of checkpoint.slice(cut + 2).split("\n")) {
    const [dash, signer, sig] = line.split(" ");
    if (dash !== "\u2014" || signer !== name || !sig) continue;
    const raw = b64(sig);
    if (hex(raw.slice(0, 4)) !== keyId) continue;
    signed = await crypto.subtle.verify({ name: "Ed25519" }, key, raw.slice(4), enc.encode(text));
    if (!signed) break;
  }
  if (!signed) return { ok: false, why: "signature" };
  const [origin, treeSize, rootB64] = text.split("\n");
  if (origin !== name || Number(treeSize) !== size) return { ok: false, why: "checkpoint" };
  // The receipt's entry: in the tree the checkpoint signed.
  let r = await sha256(new Uint8Array([0]), enc.encode(entry));
  let fn = index;
  let sn = size - 1;
  for (const p of proof.map(b64)) {
    if (sn === 0) return { ok: false, why: "proof" };
    if (fn % 2 === 1 || fn === sn) {
      r = await sha256(new Uint8Array([1]), p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = await sha256(new Uint8Array([1]), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  if (sn !== 0 || hex(r) !== hex(b64(rootB64))) return { ok: false, why: "absent" };
  // The receipt's text: exactly what the entry recorded.
  if (JSON.parse(entry).hashes?.document !== hex(await sha256(enc.encode(receipt.document)))) {
    return { ok: false, why: "text" };
  }
  return { ok: true, index: index + 1, size };
}

document.addEventListener("DOMContentLoaded", () => {
  let zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (_) {
    zone = "";
  }
  document.querySelectorAll("input[data-detect-zone]").forEach((input) => {
    input.value = zone;
  });
  const choice = document.querySelector("select[data-detect-zone-select]");
  if (choice && zone && !choice.querySelector("option[selected]")) {
    choice.value = zone;
  }
  const live = document.querySelector("[data-refresh]");
  if (live) {
    const seconds = Number(live.getAttribute("data-refresh")) || 2;
    setTimeout(() => window.location.reload(), seconds * 1000);
  }
  const check = document.querySelector("[data-receipt-check]");
  if (check) {
    // The words come from the page (the reader's language); the script only
    // chooses among them.
    const words = check.dataset;
    checkReceipt(words.receipt, words.key)
      .then((r) => {
        check.textContent = r.ok
          ? words.valid.replace("{index}", r.index).replace("{size}", r.size)
          : `${words.invalid} ${words["why" + r.why[0].toUpperCase() + r.why.slice(1)]}`;
        check.dataset.checked = r.ok ? "valid" : "invalid";
      })
      .catch(() => { check.textContent = words.unchecked; });
  }
});
