// Operators (issue 8): the idle lock on every page, and the sign-in screen's PIN keypad, badge
// field and "someone signed in" (a badge scanned on any scanner) going back to work.
(function () {
  var body = document.body;
  var box = document.getElementById('operator-box');
  var signin = document.getElementById('signin');

  function csrfToken() {
    try { return JSON.parse(body.getAttribute('hx-headers'))['X-CSRF-Token']; } catch (e) { return ''; }
  }

  // --- the idle lock: no touch and no scan for idle-lock-s seconds (the server knows the scans)
  var idleS = parseFloat(body.dataset.idleLockS || '0');
  if (idleS > 0 && box && !signin) {
    var last = Date.now(), timer = null;
    var arm = function (s) { clearTimeout(timer); timer = setTimeout(check, Math.max(1, s) * 1000); };
    var touched = function () { last = Date.now(); };
    ['pointerdown', 'keydown', 'touchstart', 'wheel'].forEach(function (type) {
      document.addEventListener(type, touched, { capture: true, passive: true });
    });
    var check = function () {
      var untouched = (Date.now() - last) / 1000;
      if (untouched < idleS) { arm(idleS - untouched); return; }
      var form = new URLSearchParams();
      form.set('touch_idle_s', String(Math.floor(untouched)));
      form.set('next', location.pathname + location.search);
      fetch(box.dataset.idleUrl, { method: 'POST', body: form, headers: { 'X-CSRF-Token': csrfToken() } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (answer) {
          if (!answer) { arm(idleS); return; }
          if (answer.lock) { location.assign(answer.url); } else { arm(answer.retry_s); }
        })
        .catch(function () { arm(idleS); });
    };
    arm(idleS);
  }

  if (!signin) { return; }

  // --- the sign-in screen
  var badge = document.getElementById('badge');
  // A keyboard-wedge scanner types anywhere: its badge lands in the badge field.
  document.addEventListener('keydown', function (e) {
    var active = document.activeElement;
    if (!badge || e.ctrlKey || e.altKey || e.metaKey || e.key.length !== 1) { return; }
    if (active && (active.tagName === 'INPUT' || active.tagName === 'TEXTAREA')) { return; }
    badge.focus();
  });
  // The keypad: digits into the PIN field, ⌫ takes the last one away.
  signin.addEventListener('click', function (e) {
    var key = e.target.closest('[data-digit]');
    if (!key) { return; }
    var pin = document.getElementById('pin');
    if (!pin) { return; }
    if (key.dataset.digit === 'back') { pin.value = pin.value.slice(0, -1); }
    else if (pin.value.length < pin.maxLength) { pin.value += key.dataset.digit; }
  });
  // Signed in some other way (a badge on the bench scanner): back to where the lock came.
  window.kioskStream('signed_in', function () { location.assign(signin.dataset.next); });
})();
