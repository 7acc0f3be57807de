// Service worker of the Zwei-Faktor-App (served as /app/sw.js, scope /app/).
// It keeps the app shell so the app opens and installs like an app; the network always
// comes first, so a new version is used as soon as the server is reachable. The API
// (/api/app/...) is never touched: login requests must be live, never cached.
"use strict";

var CACHE = "zwei-faktor-app-shell-v2";
var SHELL = [
  "/app/",
  "/app/manifest.webmanifest",
  "/app/static/app.css",
  "/app/brand.css",
  "/app/static/core.js",
  "/app/static/app.js",
  "/app/static/icon-192.png",
  "/app/static/icon-512.png",
  "/app/static/icon-maskable-512.png",
  "/app/static/icon-180.png"
];

self.addEventListener("install", function (event) {
  event.waitUntil(
    caches.open(CACHE)
      .then(function (cache) {
        return cache.addAll(SHELL.map(function (url) { return new Request(url, { credentials: "omit", cache: "no-store" }); }));
      })
      .then(function () { return self.skipWaiting(); })
  );
});

self.addEventListener("activate", function (event) {
  event.waitUntil(
    caches.keys()
      .then(function (names) {
        return Promise.all(names.filter(function (name) {
          return name.indexOf("zwei-faktor-app-shell-") === 0 && name !== CACHE;
        }).map(function (name) { return caches.delete(name); }));
      })
      .then(function () { return self.clients.claim(); })
  );
});

function shellKey(request) {
  var url = new URL(request.url);
  if (url.origin !== self.location.origin || request.method !== "GET") { return null; }
  if (request.mode === "navigate" && url.pathname === "/app/") { return "/app/"; }
  return SHELL.indexOf(url.pathname) === -1 ? null : url.pathname;
}

self.addEventListener("fetch", function (event) {
  var key = shellKey(event.request);
  if (key === null) { return; }  // not ours: the browser handles it as usual
  event.respondWith(
    fetch(event.request, { credentials: "omit" })
      .then(function (response) {
        if (response.ok) {
          var copy = response.clone();
          event.waitUntil(caches.open(CACHE).then(function (cache) { return cache.put(key, copy); }));
        }
        return response;
      })
      .catch(function () {
        return caches.match(key).then(function (cached) { return cached || Response.error(); });
      })
  );
});
