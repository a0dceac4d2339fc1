// The devices page: a sound for each scan that comes in live (the test field's own answer and
// the live redraw show the same scan: it sounds once), and the job preview closes with Escape
// or a touch beside it.
(function () {
  var heard = null;
  function sound(root) {
    var el = root && root.querySelector('[data-sound]');
    if (!el || el.dataset.seq === heard) { return; }
    heard = el.dataset.seq;
    if (window.kioskSound) { window.kioskSound(el.dataset.sound); }
  }
  function onSwap(e) {
    if (e.target && e.target.id === 'scans') { sound(e.target); }
  }
  document.body.addEventListener('htmx:sseMessage', onSwap);
  document.body.addEventListener('htmx:afterSwap', onSwap);
  document.addEventListener('DOMContentLoaded', function () {
    // Scans already listed when the page opened are old news: no sound for them.
    var scans = document.getElementById('scans');
    var el = scans && scans.querySelector('[data-sound]');
    if (el) { heard = el.dataset.seq; }
  });
  function closePreview() {
    var panel = document.getElementById('preview');
    if (panel) { panel.innerHTML = ''; }
  }
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') { closePreview(); } });
  document.addEventListener('click', function (e) { if (e.target.id === 'preview') { closePreview(); } });
})();
