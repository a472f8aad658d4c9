// The dashboard page: asks for the admin token and shows the server-drawn report (sent as a header, never a URL).
"use strict";

const $ = (id) => document.getElementById(id);

async function load(token) {
  $("status").textContent = "Loading…";
  const response = await fetch("/api/dashboard", { headers: { Authorization: "Bearer " + token } });
  if (!response.ok) {
    const body = await response.json();
    $("dashboard").replaceChildren();
    $("status").textContent = body.message;
    return;
  }
  $("dashboard").innerHTML = await response.text();
  $("status").textContent = "";
  sessionStorage.setItem("admin-token", token);
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  load($("admin-token").value.trim());
});
const saved = sessionStorage.getItem("admin-token");
if (saved) load(saved);
