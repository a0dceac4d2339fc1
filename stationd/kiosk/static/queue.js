// The outbound queue's selection (R9): kept in the page, so a live redraw of the rows (the
// pack script moved orders in, an order was shipped) or a page change does not lose it. After
// every change the server is asked which documents the selection can print, and why not.
// It ends with the print it was made for, and with the page (issue 12: ticks that survived a
// print or a reload added old orders to the next print).
(function () {
  var KEY = 'stationd.queue.selection';
  var selection = new Set();
  try { sessionStorage.removeItem(KEY); } catch (e) { /* private mode */ }

  function save() { /* the selection lives as long as the page */ }
  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll('#rows tbody input[name=order]'));
  }
  // Show the selection: ticks on this page, "select all" half-ticked, and hidden fields for the
  // orders selected on other pages so that the buttons print for them too.
  function show() {
    var onPage = {}, all = boxes(), ticked = 0;
    all.forEach(function (box) {
      onPage[box.value] = true;
      box.checked = selection.has(box.value);
      box.closest('tr').classList.toggle('selected', box.checked);
      if (box.checked) { ticked += 1; }
    });
    var pageBox = document.getElementById('select-page');
    if (pageBox) {
      pageBox.checked = all.length > 0 && ticked === all.length;
      pageBox.indeterminate = ticked > 0 && ticked < all.length;
      pageBox.disabled = all.length === 0;
    }
    var offpage = document.getElementById('offpage');
    if (offpage) {
      offpage.textContent = '';
      selection.forEach(function (id) {
        if (onPage[id]) { return; }
        var input = document.createElement('input');
        input.type = 'hidden'; input.name = 'order'; input.value = id;
        offpage.appendChild(input);
      });
    }
  }
  function ask() {
    var actions = document.getElementById('actions');
    if (actions && window.htmx) { htmx.trigger(actions, 'selection'); }
  }
  function changed() { save(); show(); ask(); }

  document.addEventListener('change', function (e) {
    var box = e.target;
    if (box.id === 'select-page') {
      boxes().forEach(function (b) {
        if (box.checked) { selection.add(b.value); } else { selection.delete(b.value); }
      });
      changed();
    } else if (box.name === 'order' && box.closest && box.closest('#rows')) {
      if (box.checked) { selection.add(box.value); } else { selection.delete(box.value); }
      changed();
    }
  });
  // A touch anywhere on a row selects it: the checkbox alone is a small target at arm's length.
  document.addEventListener('click', function (e) {
    var row = e.target.closest && e.target.closest('#rows tbody tr[data-order]');
    if (!row || e.target.closest('label, a, button, input')) { return; }
    var box = row.querySelector('input[name=order]');
    box.checked = !box.checked;
    box.dispatchEvent(new Event('change', { bubbles: true }));
  });

  function afterSwap(e) {
    var target = e.target;
    if (target.id === 'actions') {
      // Orders that left the queue meanwhile are no longer selected.
      var bar = target.querySelector('[data-gone]');
      var gone = bar && bar.dataset.gone ? bar.dataset.gone.split(',') : [];
      if (gone.length) {
        gone.forEach(function (id) { selection.delete(id); });
        save();
      }
      show();
    } else if (target.id === 'rows' || target.id === 'queue-page' || target.id === 'outcome') {
      show();
      if (selection.size && target.id !== 'outcome') { ask(); }
    }
  }
  // A done message goes away when touched, or by itself after a while; a question stays.
  var fade = null;
  document.addEventListener('click', function (e) {
    if (e.target.closest && e.target.closest('#outcome .outcome.ok')) { document.getElementById('outcome').textContent = ''; }
  });
  document.body.addEventListener('htmx:afterSwap', function (e) {
    if (e.target.id !== 'outcome') { return; }
    clearTimeout(fade);
    var done = e.target.querySelector('.outcome.ok');
    if (done && selection.size) { selection.clear(); changed(); }  // printed: the ticks are done
    if (done) { fade = setTimeout(function () { if (done.isConnected) { e.target.textContent = ''; } }, 8000); }
  });
  document.body.addEventListener('htmx:afterSwap', afterSwap);
  document.body.addEventListener('htmx:sseMessage', afterSwap);
  document.body.addEventListener('htmx:historyRestore', function () { show(); ask(); });
  document.addEventListener('DOMContentLoaded', function () {
    show();
    if (selection.size) { ask(); }
  });
})();
