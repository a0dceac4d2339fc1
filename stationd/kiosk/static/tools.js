// Tools → pack script: a run watched over SSE sounds "done" or "error" once, when it ends.
(function () {
  var played = null;
  document.body.addEventListener('htmx:sseMessage', function () {
    var live = document.getElementById('live');
    var el = live && live.querySelector('[data-sound]');
    if (!el || el.dataset.seq === played) { return; }
    played = el.dataset.seq;
    if (window.kioskSound) { window.kioskSound(el.dataset.sound); }
  });
})();
