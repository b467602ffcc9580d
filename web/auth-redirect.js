// The sign-in popup lands here: hand the authorize response to the widget that opened
// it (same origin only), then close. The widget checks origin and source again.
(function () {
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage({ type: "cif-auth-response", search: window.location.search }, window.location.origin);
    window.close();
  } else {
    document.body.textContent = "Sign-in finished. You can close this window.";
  }
})();
