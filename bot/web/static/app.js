// The try-it page: sends a photo to /api/hashtags once; a new number of tags asks for the kept answer again.
"use strict";

const $ = (id) => document.getElementById(id);
let answer = null;

function human(count) {
  for (const [limit, suffix] of [[1e9, "B"], [1e6, "M"], [1e3, "k"]]) {
    if (count >= limit) return (count / limit).toFixed(1).replace(/\.0$/, "") + suffix;
  }
  return String(count);
}

function wanted() {
  return Math.max(1, Math.min(30, Number($("count").value) || 5));
}

function headers(extra) {
  const token = $("token").value.trim();
  return token ? { ...extra, Authorization: "Bearer " + token } : extra;
}

async function ask(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) {
    if (response.status === 401) $("token-row").hidden = false;
    $("status").textContent = body.message;
    return null;
  }
  $("status").textContent = "";
  return body;
}

async function recount() {
  if (!answer) return;
  const again = await ask(`/api/answers/${answer.id}?count=${wanted()}`, { headers: headers({}) });
  if (again) { answer = again; show(); }
}

function show() {
  if (!answer) return;
  const tags = answer.tags;
  $("subject").textContent = answer.subject;
  $("tags").textContent = tags.map((t) => "#" + t.tag).join(" ");
  const list = $("tiers");
  list.replaceChildren(...tags.map((t) => {
    const item = document.createElement("li");
    const known = [];
    if (t.posts !== undefined) known.push(`${human(t.posts)} posts`);
    if (t.tier_name) known.push(t.tier_name);
    item.textContent = known.length ? `#${t.tag} — ${known.join(", ")}` : `#${t.tag}`;
    return item;
  }));
  list.hidden = !$("counts").checked;
  $("model").textContent = "model " + answer.model_version;
  $("result").hidden = false;
  $("copy").textContent = "Copy";
}

async function send(file) {
  if (!file) return;
  $("preview").src = URL.createObjectURL(file);
  $("preview").hidden = false;
  $("preview").alt = "The photo you chose";
  $("status").textContent = "Looking at the photo…";
  $("result").hidden = true;
  try {
    answer = await ask(`/api/hashtags?count=${wanted()}`, {
      method: "POST",
      body: file,
      headers: headers({ "Content-Type": file.type || "application/octet-stream" }),
    });
    show();
  } catch (error) {
    $("status").textContent = "The bot did not answer. Is it still running?";
  }
}

async function copy() {
  const text = $("tags").textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (error) {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  $("copy").textContent = "Copied";
}

const drop = $("drop");
$("file").addEventListener("change", (event) => send(event.target.files[0]));
drop.addEventListener("keydown", (event) => {
  if (event.key === "Enter" || event.key === " ") { event.preventDefault(); $("file").click(); }
});
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  send(event.dataTransfer.files[0]);
});
document.addEventListener("paste", (event) => {
  const item = [...event.clipboardData.items].find((i) => i.kind === "file");
  if (item) send(item.getAsFile());
});
$("count").addEventListener("input", recount);
$("counts").addEventListener("change", show);
$("copy").addEventListener("click", copy);
