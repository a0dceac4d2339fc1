// Sounds for ok / error / done (R12: a wrong item is heard as well as seen), and a
// keyboard-wedge scanner typing anywhere on the bench lands in the scan field.
(function () {
  var ctx = null;
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
  // htmx does not swap 4xx/5xx answers: show their sentence in red and sound the error.
  document.body.addEventListener('htmx:responseError', function (e) {
    // A page may send an element's errors elsewhere: data-errors on an ancestor names (by id)
    // the box that shows them, its earlier error replaced.
    var scope = e.detail.elt && e.detail.elt.closest && e.detail.elt.closest('[data-errors]');
    var own = scope && document.getElementById(scope.dataset.errors);
    if (own) { own.textContent = ''; }
    var box = own || document.getElementById('bench') || document.querySelector('main');
    var text = (new DOMParser()).parseFromString(e.detail.xhr.responseText, 'text/html');
    var alert = text.querySelector('[role=alert]');
    var div = document.createElement('div');
    div.className = 'outcome error';
    div.setAttribute('role', 'alert');
    // No sentence in the answer (a proxy's page, a lost connection): the template's words.
    div.textContent = alert ? alert.textContent
      : (document.body.dataset.errorText || 'Error {code}').replace('{code}', e.detail.xhr.status);
    box.prepend(div);
    sounds.error();
  });
  document.body.addEventListener('htmx:sseMessage', function (e) { play(document.getElementById('bench')); });
  document.addEventListener('keydown', function (e) {
    var field = document.getElementById('code');
    if (!field || document.activeElement === field || e.ctrlKey || e.altKey || e.metaKey) { return; }
    if (e.key.length === 1) { field.focus(); }
  });
})();
