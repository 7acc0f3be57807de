// Zwei-Faktor-App: the rules without a screen (input checks the server repeats, and
// the encodings of the protocol). No DOM here; app.js uses it, tests call it directly.
(function (root) {
  "use strict";

  var PIN_LENGTH = 6;
  var CODE_LENGTH = 8;
  var NUMBER_LENGTH = 6;
  // Mirrors partnerportal/crypto.py is_trivial_pin.
  var COMMON_PINS = ["123123", "456456", "789789", "147258", "159753", "102030", "112233", "010203", "696969", "131313"];

  function isDigits(value, length) {
    return typeof value === "string" && value.length === length && /^[0-9]+$/.test(value);
  }

  function isTrivialPin(pin) {
    var digits = pin.split("").map(Number);
    var distinct = {};
    var steps = {};
    digits.forEach(function (d) { distinct[d] = true; });
    for (var i = 1; i < digits.length; i++) { steps[digits[i] - digits[i - 1]] = true; }
    var stepList = Object.keys(steps);
    if (Object.keys(distinct).length <= 2) { return true; } // 000000, 121212, 112211 ...
    if (stepList.length === 1 && (stepList[0] === "1" || stepList[0] === "-1")) { return true; } // 123456, 654321
    return COMMON_PINS.indexOf(pin) !== -1;
  }

  // The key of the message for a PIN entered twice, or null if it may be used.
  function pinProblem(pin, repeat) {
    if (!isDigits(pin, PIN_LENGTH)) { return "pin_format"; }
    if (pin !== repeat) { return "pin_mismatch"; }
    if (isTrivialPin(pin)) { return "pin_trivial"; }
    return null;
  }

  // "2748 0323", "27480323" or a pasted " 2748 0323 " as 8 digits; null if it is not one.
  function normaliseCode(value) {
    var digits = String(value || "").replace(/\s+/g, "");
    return isDigits(digits, CODE_LENGTH) ? digits : null;
  }

  // The number from the portal's login page: "482 913", "482913" or pasted with spaces.
  function normaliseNumber(value) {
    var digits = String(value || "").replace(/\s+/g, "");
    return isDigits(digits, NUMBER_LENGTH) ? digits : null;
  }

  // A fresh random value for each signed request: the server accepts each one once.
  function newNonce() {
    return base64url(crypto.getRandomValues(new Uint8Array(18)));
  }

  function base64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The texts the server signs are fixed: see workflows/login_approval.py.
  function listMessage(deviceId, timestamp, nonce) { return ["list", deviceId, timestamp, nonce].join(":"); }
  function answerMessage(decision, requestId, requestNonce, number, timestamp, nonce) {
    return [decision, requestId, requestNonce, number, timestamp, nonce].join(":");
  }

  function format(template, values) {
    return template.replace(/\{(\w+)\}/g, function (whole, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? String(values[name]) : whole;
    });
  }

  root.ZweiFaktorCore = {
    PIN_LENGTH: PIN_LENGTH,
    isTrivialPin: isTrivialPin,
    pinProblem: pinProblem,
    normaliseCode: normaliseCode,
    normaliseNumber: normaliseNumber,
    newNonce: newNonce,
    base64url: base64url,
    listMessage: listMessage,
    answerMessage: answerMessage,
    format: format
  };
})(typeof self !== "undefined" ? self : this);
