// A cross-origin web app's use of the API (SPEC §3): cookies only, sent with
// `credentials: "include"`; the CSRF token read from the readable `csrf_token` cookie and
// echoed in `X-CSRF-Token` on every unsafe request; one refresh and retry when the access
// token has expired.
"use strict";

const API = new URLSearchParams(location.search).get("api");
const SAFE = new Set(["GET", "HEAD"]);

function cookie(name) {
  for (const pair of document.cookie.split("; ")) {
    const at = pair.indexOf("=");
    if (pair.slice(0, at) === name) return decodeURIComponent(pair.slice(at + 1));
  }
  return null;
}

// One request; `csrf: false` leaves the CSRF header out (to show the API refuses that).
async function send(method, path, body, { csrf = true } = {}) {
  const headers = {};
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const token = cookie("csrf_token");
  if (csrf && !SAFE.has(method) && token) headers["X-CSRF-Token"] = token;
  const response = await fetch(API + path, {
    method,
    headers,
    credentials: "include",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return {
    status: response.status,
    body: text ? JSON.parse(text) : null,
    requestId: response.headers.get("X-Request-ID"),
  };
}

// What the app does for every call: an expired access token answers 401, so refresh once
// (the refresh cookie is sent only to /api/auth) and repeat the call.
async function call(method, path, body, options) {
  const first = await send(method, path, body, options);
  if (first.status !== 401 || path.startsWith("/api/auth/")) return first;
  const refresh = await send("POST", "/api/auth/refresh");
  if (refresh.status !== 200) return { ...first, refresh: refresh.status };
  return { ...(await send(method, path, body, options)), refresh: refresh.status };
}

// A call whose failure to reach the API is the expected answer: the browser's error, if any.
// `simple` sends what a hostile page would, a request the browser sends without asking the
// API first (no preflight): no custom header, a body as text/plain.
async function attempt(method, path, body, simple) {
  try {
    if (!simple) return await send(method, path, body);
    const init = { method, credentials: "include" };
    if (body !== undefined) init.body = JSON.stringify(body);
    const response = await fetch(API + path, init);
    return { status: response.status };
  } catch (error) {
    return { blocked: String(error) };
  }
}

window.topsmile = { call, send, attempt, cookie, cookies: () => document.cookie };
