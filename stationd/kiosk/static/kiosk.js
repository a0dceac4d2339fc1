// Sounds for ok / error / done (R12: a wrong item is heard as well as seen), and a
// keyboard-wedge scanner typing anywhere on the bench lands in the scan field.
(function () {
  var ctx = null;
  try { ctx = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { /* no audio */ }
  // Chromium keeps an AudioContext suspended until a touch unless the kiosk browser was started
  // with --autoplay-policy=no-user-gesture-required: a packer who hears nothing is told so.
  function soundCheck() {
    var off = document.getElementById('sound-off');
    if (off && ctx) { off.hidden = ctx.state === 'running'; }
  }
  function soundOn() {
    if (ctx && ctx.state !== 'running' && ctx.resume) { ctx.resume().then(soundCheck, soundCheck); }
  }
  if (ctx) {
    ctx.onstatechange = soundCheck;
    soundOn();
    setTimeout(soundCheck, 400);  // a context that is allowed starts running by then
    document.addEventListener('pointerdown', soundOn, true);
    document.addEventListener('keydown', soundOn, true);
  }
  function tone(freq, ms, when) {
    try {
      ctx = ctx || new (window.AudioContext || window.webkitAudioContext)();
      var osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = freq; osc.connect(gain); gain.connect(ctx.destination);
      gain.gain.value = 0.2;
      var t = ctx.currentTime + (when || 0);
      osc.start(t); osc.stop(t + ms / 1000);
    } catch (e) { /* no audio device: the colour still tells */ }
  }
  var sounds = {
    ok: function () { tone(880, 80); },
    error: function () { tone(220, 250); tone(180, 250, 0.3); },
    done: function () { tone(660, 90); tone(880, 90, 0.1); tone(1320, 140, 0.2); }
  };
  var played = null;
  function play(root) {
    // The typed code's own answer and the SSE redraw show the same outcome: sound it once.
    var el = root && root.querySelector && root.querySelector('[data-sound]');
    if (!el || el.dataset.seq === played) { return; }
    played = el.dataset.seq;
    if (sounds[el.dataset.sound]) { sounds[el.dataset.sound](); }
  }
  document.body.addEventListener('htmx:afterSwap', function (e) { play(e.detail.target); });
  // For page scripts that learn of an outcome without a swap (an SSE message they handle).
  window.kioskSound = function (name) { if (sounds[name]) { sounds[name](); } };
  // Every answer to a touch lands where the finger is, or the page scrolls to it: a result
  // drawn above the viewport (the packer had scrolled) or below the fold (800×480) would make
  // the touch seem to do nothing.
  function reveal(el) {
    if (!el || !el.getBoundingClientRect) { return; }
    var box = el.getBoundingClientRect(), high = window.innerHeight || document.documentElement.clientHeight;
    if (box.top >= 0 && box.top < high && (box.bottom <= high || box.top < high / 2)) { return; }
    el.scrollIntoView({ block: box.height > high ? 'start' : 'nearest' });
  }
  function answerIn(root) {
    return root && root.querySelector && root.querySelector('.outcome, [role=alert], [data-answer]');
  }
  function byTouch(detail) {
    // A swap a person's touch or key asked for, not a poll, a load or a live update.
    var cause = detail && detail.requestConfig && detail.requestConfig.triggeringEvent;
    return !!(cause && cause.isTrusted);
  }
  document.body.addEventListener('htmx:afterSettle', function (e) {
    if (!byTouch(e.detail)) { return; }
    var target = e.detail.target;
    reveal(answerIn(target) || target);
  });
  // htmx does not swap 4xx/5xx answers: show their sentence in red, by the touched form, and
  // sound the error. The banner shown before it is of an earlier moment: it goes.
  document.body.addEventListener('htmx:responseError', function (e) {
    // A page may send an element's errors elsewhere: data-errors on an ancestor names (by id)
    // the box that shows them, its earlier error replaced.
    var elt = e.detail.elt;
    var scope = elt && elt.closest && elt.closest('[data-errors]');
    var own = scope && document.getElementById(scope.dataset.errors);
    var text = (new DOMParser()).parseFromString(e.detail.xhr.responseText, 'text/html');
    var alert = text.querySelector('[role=alert]');
    var div = document.createElement('div');
    div.className = 'outcome error';
    div.setAttribute('role', 'alert');
    // No sentence in the answer (a proxy's page, a lost connection): the template's words.
    div.textContent = alert ? alert.textContent.trim()
      : (document.body.dataset.errorText || 'The station could not answer that.');
    var bench = document.getElementById('bench');
    if (own) {
      own.textContent = '';
      own.appendChild(div);
    } else if (bench) {
      Array.prototype.forEach.call(bench.querySelectorAll(':scope > .outcome'), function (old) { old.remove(); });
      bench.prepend(div);
    } else {
      // Beside what was touched: after its form (or itself), the previous such answer gone.
      var touched = (elt && elt.closest && elt.closest('form')) || elt;
      document.querySelectorAll('.outcome.touch-error').forEach(function (old) { old.remove(); });
      div.classList.add('touch-error');
      if (touched && touched.parentNode && touched !== document.body) {
        touched.parentNode.insertBefore(div, touched.nextSibling);
      } else {
        document.querySelector('main').prepend(div);
      }
    }
    reveal(div);
    sounds.error();
  });
  document.body.addEventListener('htmx:sseMessage', function (e) { play(document.getElementById('bench')); });
  document.addEventListener('keydown', function (e) {
    var field = document.getElementById('code');
    if (!field || document.activeElement === field || e.ctrlKey || e.altKey || e.metaKey) { return; }
    if (e.key.length === 1) { field.focus(); }
  });
})();
