// Zwei-Faktor-App: activation in three steps, then unlocking with the PIN and answering
// login requests. The device key is made by WebCrypto and cannot be exported; the key
// pair, the device id and the username live in this app's own IndexedDB database. The
// PIN stays in memory while the app is unlocked and is never stored. Requests to the
// server carry no cookies (credentials: "omit"): the portal's session is not shared.
(function () {
  "use strict";

  var core = window.ZweiFaktorCore;
  var DB_NAME = "zwei-faktor-app";
  var STORE = "device";
  var DEVICE_KEY = "current";
  var POLL_MS = 2500;
  var AUTO_LOCK_MS = 5 * 60 * 1000;

  var main = document.getElementById("main");
  var statusEl = document.getElementById("app-status");
  var requestList = document.getElementById("request-list");
  var emptyNote = document.getElementById("requests-empty");
  var api = {
    activate: main.getAttribute("data-api-activate"),
    checkCode: main.getAttribute("data-api-check-code"),
    requests: main.getAttribute("data-api-requests"),
    answer: main.getAttribute("data-api-answer")
  };
  var messages = readMessages();

  var state = {
    screen: "loading",
    beforeReset: "terms",
    device: null,        // {deviceId, username, keyPair}
    pin: null,           // only while unlocked
    credentials: null,   // {username, code} between steps 2 and 3
    busy: false,
    polling: false,
    pollTimer: null,
    pollRound: 0,
    offline: false,
    requests: {},        // server id -> {item, element, answering}
    nextElementId: 1,
    lockTimer: null
  };

  function readMessages() {
    var result = {};
    var template = document.getElementById("app-messages");
    var nodes = template ? template.content.querySelectorAll("[data-key]") : [];
    for (var i = 0; i < nodes.length; i++) {
      result[nodes[i].getAttribute("data-key")] = nodes[i].textContent;
    }
    return result;
  }

  function msg(key, values) {
    return core.format(messages[key] || key, values || {});
  }

  // -- live status and field errors ------------------------------------------------

  var statusRound = 0;
  function setStatus(text) {
    var round = ++statusRound;
    if (text && statusEl.textContent === text) {
      // The same words again (a second approval): clear first so it is announced again.
      statusEl.textContent = "";
      setTimeout(function () { if (round === statusRound) { statusEl.textContent = text; } }, 100);
      return;
    }
    statusEl.textContent = text || "";
  }

  function errorElementOf(input) {
    return document.getElementById(input.id + "-error");
  }

  function setFieldError(input, text) {
    var error = errorElementOf(input);
    var hint = input.getAttribute("data-hint");
    if (hint === null) {
      hint = input.getAttribute("aria-describedby") || "";
      input.setAttribute("data-hint", hint);
    }
    error.textContent = text || "";
    error.hidden = !text;
    var field = input.closest(".field");
    if (field) { field.classList.toggle("has-error", Boolean(text)); }
    if (text) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", (hint + " " + error.id).trim());
    } else {
      input.removeAttribute("aria-invalid");
      if (hint) { input.setAttribute("aria-describedby", hint); } else { input.removeAttribute("aria-describedby"); }
    }
  }

  function setFormError(id, text) {
    var element = document.getElementById(id);
    element.textContent = text || "";
    element.hidden = !text;
  }

  function clearErrors(form) {
    var inputs = form.querySelectorAll("input");
    for (var i = 0; i < inputs.length; i++) {
      if (errorElementOf(inputs[i])) { setFieldError(inputs[i], ""); }
    }
  }

  // -- screens ----------------------------------------------------------------------

  // Shows one screen; focus goes to its heading (or `focusTarget`) unless focus is false.
  function show(name, focusTarget) {
    var screens = main.querySelectorAll(".screen");
    for (var i = 0; i < screens.length; i++) {
      screens[i].hidden = screens[i].id !== "screen-" + name;
    }
    state.screen = name;
    if (name === "requests") { startPolling(); } else { stopPolling(); }
    if (focusTarget !== false) {
      (focusTarget || document.querySelector("#screen-" + name + " h1")).focus();
    }
  }

  function showUsername() {
    var places = document.querySelectorAll(".device-username");
    for (var i = 0; i < places.length; i++) {
      places[i].textContent = state.device ? state.device.username : "";
    }
  }

  function showLocked(text) {
    forgetPin();
    setStatus("");
    document.getElementById("locked-message").textContent = text;
    show("locked");
  }

  function showProblem(text, focus) {
    forgetPin();
    setStatus("");
    document.getElementById("problem-message").textContent = text;
    document.getElementById("problem-reset").hidden = !state.device;
    show("problem", focus === false ? false : undefined);
  }

  // -- storage (this app's own IndexedDB database) ----------------------------------

  function openDatabase(version) {
    return new Promise(function (resolve, reject) {
      var request = version ? indexedDB.open(DB_NAME, version) : indexedDB.open(DB_NAME);
      request.onupgradeneeded = function () {
        if (!request.result.objectStoreNames.contains(STORE)) { request.result.createObjectStore(STORE); }
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    }).then(function (db) {
      if (db.objectStoreNames.contains(STORE)) { return db; }
      // A database without the store (made by someone else opening the name): add it.
      var next = db.version + 1;
      db.close();
      return openDatabase(next);
    });
  }

  function inStore(mode, operation) {
    return openDatabase().then(function (db) {
      return new Promise(function (resolve, reject) {
        var transaction = db.transaction(STORE, mode);
        var request = operation(transaction.objectStore(STORE));
        transaction.oncomplete = function () { db.close(); resolve(request.result); };
        transaction.onerror = transaction.onabort = function () { db.close(); reject(transaction.error); };
      });
    });
  }

  function loadDevice() {
    return inStore("readonly", function (store) { return store.get(DEVICE_KEY); });
  }

  function saveDevice(device) {
    return inStore("readwrite", function (store) { return store.put(device, DEVICE_KEY); });
  }

  function deleteDatabase() {
    return new Promise(function (resolve, reject) {
      var request = indexedDB.deleteDatabase(DB_NAME);
      request.onsuccess = function () { resolve(); };
      request.onerror = function () { reject(request.error); };
    });
  }

  // -- server -------------------------------------------------------------------------

  function postJson(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "omit",
      cache: "no-store",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        return { status: response.status, body: data || {} };
      });
    });
  }

  function sign(text) {
    return crypto.subtle.sign(
      { name: "ECDSA", hash: { name: "SHA-256" } },
      state.device.keyPair.privateKey,
      new TextEncoder().encode(text)
    ).then(core.base64url);
  }

  // -- step 1: terms of use -----------------------------------------------------------

  document.getElementById("terms-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var box = document.getElementById("terms-accepted");
    if (!box.checked) {
      setFieldError(box, msg("terms_required"));
      box.focus();
      return;
    }
    setFieldError(box, "");
    show("credentials");
  });

  // -- step 2: username and activation code ------------------------------------------

  document.getElementById("credentials-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.currentTarget;
    var username = document.getElementById("username");
    var code = document.getElementById("code");
    var name = username.value.trim();
    var digits = core.normaliseCode(code.value);
    clearErrors(form);
    var invalid = [];
    if (!name || name.length > 254) { setFieldError(username, msg("username_required")); invalid.push(username); }
    if (digits === null) { setFieldError(code, msg("code_format")); invalid.push(code); }
    if (invalid.length) { invalid[0].focus(); return; }
    checkCode(name, digits);
  });

  // The server checks the code now, before a PIN is chosen (one counted try): a wrong,
  // used-up or expired code is reported here, with the tries left or where to get a new one.
  function checkCode(name, digits) {
    if (state.busy) { return; }
    state.busy = true;
    setStatus(msg("checking_code"));
    postJson(api.checkCode, { username: name, code: digits })
      .catch(function () { return { status: 0, body: {} }; })
      .then(function (result) {
        setStatus("");
        if (result.status === 200) {
          state.credentials = { username: name, code: digits };
          show("pin");
          return;
        }
        codeRefused(result);
      })
      .then(function () { state.busy = false; });
  }

  function codeRefused(result) {
    var username = document.getElementById("username");
    var code = document.getElementById("code");
    var body = result.body;
    var errors = body.errors || {};
    if (body.field) { errors[body.field] = body.error; }
    if (result.status === 0) { errors.code = msg("offline"); }
    if (!errors.username && !errors.code) { errors.code = body.error || msg("server_error"); }
    setFieldError(username, errors.username || "");
    setFieldError(code, errors.code || "");
    (errors.username ? username : code).focus();
  }

  // -- step 3: PIN and activation ----------------------------------------------------

  document.getElementById("pin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (state.busy) { return; }
    var form = event.currentTarget;
    var pin = document.getElementById("pin");
    var repeat = document.getElementById("pin-repeat");
    clearErrors(form);
    setFormError("pin-form-error", "");
    if (!document.getElementById("terms-accepted").checked) { show("terms"); return; }
    if (!state.credentials) { show("credentials"); return; }
    var problem = core.pinProblem(pin.value, repeat.value);
    if (problem === "pin_mismatch") {
      setFieldError(repeat, msg(problem));
      repeat.focus();
      return;
    }
    if (problem) {
      setFieldError(pin, msg(problem));
      pin.focus();
      return;
    }
    activate(pin.value, repeat.value);
  });

  function activate(pin, pinRepeat) {
    var credentials = state.credentials;
    var keyPair = null;
    state.busy = true;
    setStatus(msg("activating"));
    crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"])
      .then(function (pair) {
        keyPair = pair;
        return crypto.subtle.exportKey("jwk", pair.publicKey);
      })
      .then(function (jwk) {
        return postJson(api.activate, {
          username: credentials.username,
          code: credentials.code,
          pin: pin,
          pin_repeat: pinRepeat,
          public_key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y },
          terms_accepted: true
        }).catch(function () { return { status: 0, body: {} }; });
      })
      .then(function (result) {
        if (result.status === 201 && result.body.device_id) {
          var device = { deviceId: result.body.device_id, username: credentials.username, keyPair: keyPair };
          return saveDevice(device).then(function () { activated(device); }, function () {
            setStatus("");
            setFormError("pin-form-error", msg("storage_failed"));
          });
        }
        setStatus("");
        activationRefused(result);
      }, function () {
        setStatus("");
        setFormError("pin-form-error", msg("unsupported"));
      })
      .catch(function () {
        setStatus("");
        setFormError("pin-form-error", msg("server_error"));
      })
      .then(function () { state.busy = false; });
  }

  function activated(device) {
    state.device = device;
    state.credentials = null;
    var forms = ["terms-form", "credentials-form", "pin-form"];
    for (var i = 0; i < forms.length; i++) { document.getElementById(forms[i]).reset(); }
    showUsername();
    show("activated");
    setStatus(msg("activated"));
  }

  // The server's German messages go next to the fields they are about.
  function activationRefused(result) {
    var body = result.body;
    var errors = body.errors || {};
    if (body.field) { errors[body.field] = body.error; }
    if (result.status === 0) {
      setFormError("pin-form-error", msg("offline"));
      return;
    }
    if (errors.username || errors.code) {
      var username = document.getElementById("username");
      var code = document.getElementById("code");
      setFieldError(username, errors.username || "");
      setFieldError(code, errors.code || "");
      show("credentials", errors.username ? username : code);
      return;
    }
    if (errors.terms_accepted) {
      var box = document.getElementById("terms-accepted");
      box.checked = false;
      setFieldError(box, errors.terms_accepted);
      show("terms", box);
      return;
    }
    if (errors.pin) {
      var pin = document.getElementById("pin");
      setFieldError(pin, errors.pin);
      pin.focus();
      return;
    }
    setFormError("pin-form-error", errors.public_key || body.error || msg("server_error"));
  }

  // -- unlocking ----------------------------------------------------------------------

  document.getElementById("unlock-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var input = document.getElementById("unlock-pin");
    if (!/^[0-9]{6}$/.test(input.value)) {
      setFieldError(input, msg("pin_format"));
      input.focus();
      return;
    }
    state.pin = input.value;
    input.value = "";
    setFieldError(input, "");
    armAutoLock();
    show("requests");
    setStatus(msg("unlocked"));
  });

  function forgetPin() {
    state.pin = null;
    clearTimeout(state.lockTimer);
    state.lockTimer = null;
  }

  function lock(statusKey) {
    forgetPin();
    show("unlock");
    setStatus(msg(statusKey));
  }

  function armAutoLock() {
    if (state.pin === null) { return; }
    clearTimeout(state.lockTimer);
    state.lockTimer = setTimeout(function () { lock("auto_locked"); }, AUTO_LOCK_MS);
  }

  ["keydown", "pointerdown"].forEach(function (type) {
    document.addEventListener(type, armAutoLock, { passive: true });
  });

  // -- login requests -------------------------------------------------------------------

  function startPolling() {
    if (state.polling) { return; }
    state.polling = true;
    poll();
  }

  function stopPolling() {
    state.polling = false;
    clearTimeout(state.pollTimer);
    state.pollTimer = null;
  }

  function pollLater() {
    clearTimeout(state.pollTimer);
    if (state.polling) { state.pollTimer = setTimeout(poll, POLL_MS); }
  }

  function poll() {
    clearTimeout(state.pollTimer);
    if (!state.polling || !state.device) { return; }
    if (document.visibilityState === "hidden") { return; }  // resumed by visibilitychange
    var round = ++state.pollRound;
    var deviceId = state.device.deviceId;
    var timestamp = Date.now();
    var nonce = core.newNonce();
    sign(core.listMessage(deviceId, timestamp, nonce))
      .then(function (signature) {
        return postJson(api.requests, { device_id: deviceId, timestamp: timestamp, nonce: nonce, signature: signature });
      })
      .then(function (result) {
        if (!state.polling || round !== state.pollRound) { return; }
        if (result.status === 200) {
          if (state.offline) { state.offline = false; setStatus(""); }
          showRequests(result.body.requests || []);
          pollLater();
        } else if (result.status === 423) {
          showLocked(result.body.error || msg("server_error"));
        } else if (result.status === 401) {
          showProblem(result.body.error || msg("server_error"));
        } else {
          pollLater();
        }
      }, function () {
        if (!state.polling || round !== state.pollRound) { return; }
        if (!state.offline) { state.offline = true; setStatus(msg("offline_polling")); }
        pollLater();
      });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && state.polling) { poll(); }
  });
  window.addEventListener("online", function () { if (state.polling) { poll(); } });

  // The server lists the newest first; the list keeps that order, so a flood of requests
  // started by someone else is visible as such and the person's own is on top.
  function showRequests(items) {
    var seen = {};
    var newest = null;
    items.forEach(function (item, index) {
      seen[item.id] = true;
      if (!state.requests[item.id]) {
        state.requests[item.id] = { item: item, element: buildRequest(item), answering: false };
        if (!newest) { newest = item; }
      }
      var node = state.requests[item.id].element;
      if (requestList.children[index] !== node) { requestList.insertBefore(node, requestList.children[index] || null); }
    });
    Object.keys(state.requests).forEach(function (id) {
      if (!seen[id] && !state.requests[id].answering) { removeRequest(id); }
    });
    emptyNote.hidden = requestList.children.length > 0;
    if (newest) { setStatus(msg("new_request", { time: timeOf(newest.created_at), browser: newest.browser })); }
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function timeOf(iso) {
    var date = new Date(iso);
    if (isNaN(date.getTime())) { return ""; }
    return new Intl.DateTimeFormat(main.dataset.timeLocale || "de-DE", { hour: "2-digit", minute: "2-digit" }).format(date);
  }

  function buildRequest(item) {
    var id = "request-" + state.nextElementId++;
    var li = element("li", "request");
    li.id = id;
    li.setAttribute("data-request-id", item.id);
    var title = element("h2", "request-title", msg("requested_at", { time: timeOf(item.created_at) }));
    title.id = id + "-title";
    var origin = element("p", "request-origin", msg("request_origin", { browser: item.browser, ip: item.ip }));
    origin.id = id + "-origin";
    var form = element("form", "request-form");
    form.noValidate = true;
    var field = element("div", "field");
    var input = element("input", "number-input");
    input.id = id + "-number";
    input.type = "text";
    input.name = "number";
    input.setAttribute("inputmode", "numeric");
    input.setAttribute("autocomplete", "off");
    input.setAttribute("maxlength", "7");
    input.setAttribute("aria-describedby", id + "-number-hint " + origin.id);
    var label = element("label", "", msg("number_label"));
    label.htmlFor = input.id;
    var hint = element("span", "hint", msg("number_hint"));
    hint.id = id + "-number-hint";
    var error = element("p", "field-error");
    error.id = input.id + "-error";
    error.hidden = true;
    [label, hint, input, error].forEach(function (part) { field.appendChild(part); });
    var actions = element("div", "actions");
    var approve = element("button", "", msg("approve"));
    approve.type = "submit";
    approve.setAttribute("data-decision", "approve");
    var notMe = element("button", "secondary", msg("not_me"));
    notMe.type = "button";
    notMe.setAttribute("data-decision", "not_me");
    notMe.setAttribute("aria-describedby", title.id + " " + origin.id);
    notMe.addEventListener("click", function () { answer(item.id, "not_me"); });
    actions.appendChild(approve);
    actions.appendChild(notMe);
    form.appendChild(field);
    form.appendChild(actions);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      answer(item.id, "approve");
    });
    li.setAttribute("aria-labelledby", title.id);
    [title, origin, form].forEach(function (part) { li.appendChild(part); });
    return li;
  }

  function removeRequest(id) {
    var entry = state.requests[id];
    if (!entry) { return; }
    var hadFocus = entry.element.contains(document.activeElement);
    entry.element.remove();
    delete state.requests[id];
    emptyNote.hidden = requestList.children.length > 0;
    if (hadFocus) { document.getElementById("requests-title").focus(); }
  }

  function setAnswering(entry, answering) {
    entry.answering = answering;
    var buttons = entry.element.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) {
      if (answering) { buttons[i].setAttribute("aria-disabled", "true"); } else { buttons[i].removeAttribute("aria-disabled"); }
    }
  }

  function answer(id, decision) {
    var entry = state.requests[id];
    if (!entry || entry.answering || state.pin === null) { return; }
    var input = entry.element.querySelector(".number-input");
    var number = "";
    setFieldError(input, "");
    if (decision === "approve") {
      number = core.normaliseNumber(input.value);
      if (number === null) {
        setFieldError(input, msg("number_format"));
        input.focus();
        return;
      }
    }
    setAnswering(entry, true);
    setStatus(msg("sending"));
    var item = entry.item;
    var pin = state.pin;
    var timestamp = Date.now();
    var nonce = core.newNonce();
    sign(core.answerMessage(decision, item.id, item.nonce, number, timestamp, nonce))
      .then(function (signature) {
        var url = api.answer.replace("REQUEST_ID", encodeURIComponent(item.id));
        return postJson(url, {
          device_id: state.device.deviceId, decision: decision, pin: pin, number: number,
          timestamp: timestamp, nonce: nonce, signature: signature
        });
      })
      .then(function (result) {
        setAnswering(entry, false);
        answered(id, result);
      }, function () {
        setAnswering(entry, false);
        setStatus("");
        setFieldError(input, msg("offline"));
      });
  }

  var ANSWERED = { approved: "approved", denied: "denied", not_me: "not_me_done" };

  function answered(id, result) {
    var body = result.body;
    var entry = state.requests[id];
    if (result.status === 200) {
      removeRequest(id);
      setStatus(msg(ANSWERED[body.status] || "denied"));
    } else if (result.status === 401 && body.field === "pin") {
      // Wrong PIN: ask for it again, with the attempts left next to the field.
      forgetPin();
      setStatus("");
      var pinInput = document.getElementById("unlock-pin");
      setFieldError(pinInput, body.error);
      show("unlock", pinInput);
    } else if (result.status === 422 && body.field === "number" && body.ended) {
      // A wrong number ended the request on the server: say so where focus goes.
      removeRequest(id);
      setStatus(body.error);
    } else if (result.status === 422 && body.field === "number" && entry) {
      var numberInput = entry.element.querySelector(".number-input");
      setFieldError(numberInput, body.error);
      numberInput.focus();
    } else if (result.status === 423) {
      setStatus("");
      showLocked(body.error || msg("server_error"));
    } else if (result.status === 409) {
      removeRequest(id);
      setStatus(body.error || msg("server_error"));
    } else if (result.status === 401) {
      setStatus("");
      showProblem(body.error || msg("server_error"));
    } else if (entry) {
      setStatus("");
      setFieldError(entry.element.querySelector(".number-input"), body.error || msg("server_error"));
    }
  }

  // -- reset ----------------------------------------------------------------------------

  function reset() {
    forgetPin();
    stopPolling();
    deleteDatabase().then(function () {
      state.device = null;
      state.credentials = null;
      state.requests = {};
      requestList.textContent = "";
      emptyNote.hidden = false;
      var forms = ["terms-form", "credentials-form", "pin-form", "unlock-form"];
      for (var i = 0; i < forms.length; i++) {
        var form = document.getElementById(forms[i]);
        form.reset();
        clearErrors(form);
      }
      showUsername();
      show("terms");
      setStatus(msg("reset_done"));
    }, function () {
      showProblem(msg("unsupported"));
    });
  }

  // -- buttons outside forms -------------------------------------------------------------

  main.addEventListener("click", function (event) {
    var target = event.target.closest ? event.target.closest("button") : null;
    if (!target) { return; }
    var go = target.getAttribute("data-go");
    var action = target.getAttribute("data-action");
    if (go === "reset") {
      state.beforeReset = state.screen;
      show("reset");
    } else if (go) {
      show(go);
    } else if (action === "lock") {
      lock("locked_by_user");
    } else if (action === "reset") {
      reset();
    } else if (action === "cancel-reset") {
      show(state.beforeReset === "reset" ? "unlock" : state.beforeReset);
    } else if (action === "retry") {
      setStatus("");
      start(true);
    }
  });

  // -- start ------------------------------------------------------------------------------

  function supported() {
    return Boolean(window.isSecureContext && window.crypto && window.crypto.subtle && window.indexedDB &&
                   window.fetch && window.TextEncoder && window.Promise);
  }

  function registerServiceWorker() {
    if (!("serviceWorker" in navigator)) { return; }
    navigator.serviceWorker.register(main.getAttribute("data-service-worker"), { scope: main.getAttribute("data-scope") })
      .catch(function () { /* the app works without it; it only makes it installable and start offline */ });
  }

  function start(focus) {
    var moveFocus = focus ? undefined : false;
    if (!supported()) {
      showProblem(msg("unsupported"), moveFocus);
      return;
    }
    loadDevice().then(function (device) {
      state.device = device && device.deviceId && device.keyPair ? device : null;
      showUsername();
      show(state.device ? "unlock" : "terms", moveFocus);
    }, function () {
      showProblem(msg("unsupported"), moveFocus);
    });
  }

  registerServiceWorker();
  start(false);
})();
