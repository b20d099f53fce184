"""The model page's style and script, inlined into every page: the page fetches nothing from elsewhere
(no CDN, no fonts), so it works offline and behind a strict proxy."""

from __future__ import annotations

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:90em;padding:0 1em;color:#222}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:right;vertical-align:top}
td{white-space:nowrap}
td.text,th.text{text-align:left}
tr.production{background:#eaf6ea}
.stage{font-weight:600}
.error{color:#a00;font-weight:600}.ok{color:#060}
.side{display:grid;grid-template-columns:1fr 1fr;gap:1em;align-items:start}
.side img{max-width:100%;border:1px solid #ddd}
.missing{color:#777;font-style:italic}
#answer{min-height:1.4em;white-space:pre-wrap}
fieldset{border:1px solid #ccc;margin:.6em 0}
"""

# The admin key lives in this tab's sessionStorage at most (gone when the tab closes), never in
# localStorage or a cookie; each admin call sends it as X-API-Key and shows the answer or its detail.
SCRIPT = """
"use strict";
const keyInput = document.getElementById("admin-key");
const answer = document.getElementById("answer");
keyInput.value = sessionStorage.getItem("adminKey") || "";
keyInput.addEventListener("input", () => sessionStorage.setItem("adminKey", keyInput.value));
const earlier = sessionStorage.getItem("lastAnswer");
if (earlier) { answer.textContent = earlier; answer.className = "ok"; sessionStorage.removeItem("lastAnswer"); }

async function admin(path, body) {
  const headers = {"Content-Type": "application/json"};
  if (keyInput.value) headers["X-API-Key"] = keyInput.value;
  answer.textContent = "…"; answer.className = "";
  let response, data;
  try {
    response = await fetch(path, {method: "POST", headers, body: JSON.stringify(body || {})});
    data = await response.json().catch(() => ({detail: response.statusText}));
  } catch (error) {
    answer.textContent = "Request failed: " + error; answer.className = "error"; return;
  }
  if (!response.ok) {
    answer.textContent = response.status + ": " + (data.detail || data.error || JSON.stringify(data));
    answer.className = "error"; return;
  }
  sessionStorage.setItem("lastAnswer", path + ": " + JSON.stringify(data));
  location.reload();
}

for (const button of document.querySelectorAll("button.promote")) {
  button.addEventListener("click", () =>
    admin("/models/" + encodeURIComponent(button.dataset.version) + "/promote"));
}
document.getElementById("rollback").addEventListener("click", () => admin("/models/rollback"));
document.getElementById("traffic").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  admin("/traffic", {
    candidate: form.candidate.value || null,
    candidate_share: Number(form.candidate_share.value || 0),
    shadow: form.shadow.value || null,
  });
});
"""
