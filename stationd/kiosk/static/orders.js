// The orders pages. A search htmx sends with bad criteria comes back 400 with the form's
// sentences: show them where the results go (kiosk.js would only print the first in red).
// Typing or a keyboard-wedge scanner while nothing has the focus lands in the search box.
(function () {
  document.body.addEventListener('htmx:beforeSwap', function (e) {
    var target = e.detail.target;
    if (e.detail.xhr.status === 400 && target && target.id === 'orders-results') {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
  // The answer names the fields its problems are about: each is marked where it was typed (a
  // field set right since is unmarked), and the first bad one is what the finger goes to.
  document.body.addEventListener('htmx:afterSwap', function (e) {
    var form = document.getElementById('orders-search');
    if (!form || !e.detail.target || e.detail.target.id !== 'orders-results') { return; }
    var problems = e.detail.target.querySelector('[data-fields]');
    var bad = problems ? problems.dataset.fields.split(' ').filter(Boolean) : [];
    Array.prototype.forEach.call(form.elements, function (field) {
      if (!field.name || field.type === 'hidden') { return; }
      var wrong = bad.indexOf(field.name) >= 0;
      var label = field.closest('label');
      if (label) { label.classList.toggle('bad', wrong); }
      if (wrong) { field.setAttribute('aria-invalid', 'true'); } else { field.removeAttribute('aria-invalid'); }
    });
  });
  // Only the criteria given go into the URL the search pushes: short enough to share.
  document.body.addEventListener('htmx:configRequest', function (e) {
    if (e.detail.verb !== 'get' || !e.detail.elt.closest || !e.detail.elt.closest('#orders-search')) { return; }
    var params = e.detail.parameters, empty = [];
    for (var pair of params.entries()) { if (pair[1] === '') { empty.push(pair[0]); } }
    empty.forEach(function (name) { params.delete(name); });
  });
  // The order page redraws live when the order changes elsewhere (a scan at the bench) —
  // but not under a person's hands: not while a field of it has the focus, nor just after
  // their own change was drawn with its message.
  var ownSwap = 0;
  document.body.addEventListener('htmx:afterSwap', function (e) {
    if (e.detail.target && e.detail.target.id === 'order' && e.detail.requestConfig) { ownSwap = Date.now(); }
  });
  document.body.addEventListener('htmx:sseBeforeMessage', function (e) {
    var order = document.getElementById('order');
    if (!order || e.detail.type !== 'order') { return; }
    var active = document.activeElement;
    if ((active && order.contains(active) && active.matches('input, select, textarea')) || Date.now() - ownSwap < 3000) {
      e.preventDefault();
    }
  });
  document.addEventListener('keydown', function (e) {
    var box = document.getElementById('orders-q');
    var active = document.activeElement;
    if (!box || e.ctrlKey || e.altKey || e.metaKey || e.key.length !== 1) { return; }
    if (active && active.matches('input, select, textarea')) { return; }
    box.focus();
  });
})();
