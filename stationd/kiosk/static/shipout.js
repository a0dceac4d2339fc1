// Ship-out (R13): which order a scanner's parcel id goes to (the selected card), the + that
// shows the next parcel field, the × that takes an id off, Enter moving on instead of reporting
// in, the live scale, and the list redrawn live where the database changed — a card being
// typed in is left alone unless its order changed, and then what was typed comes along.
(function () {
  var KEY = 'stationd.shipout.selected';
  var root = document.getElementById('shipout');
  if (!root) { return; }

  function cards() { return Array.prototype.slice.call(document.querySelectorAll('.order-card')); }
  function selected() {
    var id = null;
    try { id = sessionStorage.getItem(KEY); } catch (e) { /* private mode */ }
    return (id && document.getElementById('order-' + id)) || cards()[0] || null;
  }
  // The bench's "To ship-out" link names the order it packed: its card takes the scans.
  if (root.dataset.selected) {
    try { sessionStorage.setItem(KEY, root.dataset.selected); } catch (e) { /* private mode */ }
  }
  function select(card) {
    cards().forEach(function (c) { c.classList.toggle('selected', c === card); });
    if (card) { try { sessionStorage.setItem(KEY, card.dataset.order); } catch (e) { /* private mode */ } }
  }
  function slots(card) { return Array.prototype.slice.call(card.querySelectorAll('.parcel-slot')); }
  // Show the next hidden parcel field (R13: four at most); its input, or null when all show.
  function reveal(card) {
    var hidden = slots(card).filter(function (s) { return s.hidden; });
    if (!hidden.length) { return null; }
    hidden[0].hidden = false;
    if (hidden.length === 1) {
      var plus = card.querySelector('[data-plus]');
      if (plus) { plus.hidden = true; }
    }
    return hidden[0].querySelector('input');
  }
  function nextEmpty(card) {
    var shown = slots(card).filter(function (s) { return !s.hidden; });
    for (var i = 0; i < shown.length; i++) {
      var input = shown[i].querySelector('input');
      if (!input.value.trim()) { return input; }
    }
    return reveal(card);
  }
  function say(card, text, sound) {
    var box = card ? document.getElementById(card.dataset.errors) : root;
    var div = document.createElement('div');
    div.className = 'outcome ' + (sound === 'error' ? 'error' : 'ok');
    div.setAttribute('role', sound === 'error' ? 'alert' : 'status');
    div.textContent = text;
    if (card) { box.textContent = ''; box.appendChild(div); } else { box.prepend(div); }
    if (window.kioskSound) { window.kioskSound(sound); }
  }
  // What the bench made of a scanned parcel id, above the list (only the newest).
  function tell(text, sound) {
    var box = document.getElementById('live-said');
    if (!box) { say(null, text, sound); return; }
    var div = document.createElement('div');
    div.className = 'outcome ' + (sound === 'error' ? 'error' : 'ok');
    div.setAttribute('role', sound === 'error' ? 'alert' : 'status');
    div.textContent = text;
    box.textContent = '';
    box.appendChild(div);
    if (window.kioskSound) { window.kioskSound(sound); }
  }

  document.addEventListener('click', function (e) {
    var plus = e.target.closest && e.target.closest('[data-plus]');
    var clear = e.target.closest && e.target.closest('[data-clear]');
    var card = e.target.closest && e.target.closest('.order-card');
    if (card) { select(card); }
    if (clear) {
      // × empties the field; leaving it so takes its kept id off the delivery.
      var field = clear.parentNode.querySelector('input.parcel');
      if (field && field.value) { field.value = ''; htmx.trigger(field, 'change'); }
      if (field) { field.focus(); }
    }
    if (plus && card) {
      var input = reveal(card);
      if (input) { input.focus(); }
    }
  });
  document.addEventListener('focusin', function (e) {
    var card = e.target.closest && e.target.closest('.order-card');
    if (card) { select(card); }
  });
  document.addEventListener('keydown', function (e) {
    var t = e.target;
    if (e.key === 'Enter' && t.tagName === 'INPUT' && t.form && t.form.id === 'shipout-form') {
      // Enter (a wedge scanner ends every scan with it) never reports in: only the button does.
      e.preventDefault();
      if (t.classList.contains('parcel') && t.value.trim()) {
        var next = nextEmpty(t.closest('.order-card'));
        if (next) { next.focus(); } else { t.blur(); }  // leaving the field checks it
      }
      return;
    }
    // A keyboard-wedge scan with no field focused goes to the selected order's next parcel field.
    if (e.ctrlKey || e.altKey || e.metaKey || e.key.length !== 1) { return; }
    var active = document.activeElement;
    if (active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName)) { return; }
    var card = selected();
    var input = card && nextEmpty(card);
    if (input) { input.focus(); }
  });

  if (window.kioskStream) {  // the page's one stream (#shipout's sse-connect), see stream.js
    var source = { addEventListener: window.kioskStream };
    // A station scanner's scan (the bench leaves parcel ids to this page).
    // The list changed (an order packed at the bench, shipped at another, an id kept).
    source.addEventListener('orders', function () { refresh(); });
    source.addEventListener('parcel', function (e) {
      var data = JSON.parse(e.data);
      var card = selected();
      // The bench had an order open: it took the id (the list redraws) or said why not.
      if (!data.parcel) { tell(data.message, data.ok ? 'ok' : 'error'); return; }
      if (!card) { say(null, root.dataset.noOrder, 'error'); return; }
      var input = nextEmpty(card);
      if (!input) { say(card, root.dataset.full, 'error'); return; }
      input.value = data.parcel;
      htmx.trigger(input, 'change');  // checked like a typed one
      if (window.kioskSound) { window.kioskSound('ok'); }
    });
    // A steady weight on the scale: shown, and put in the selected order's weight field.
    source.addEventListener('weight', function (e) {
      var data = JSON.parse(e.data);
      var shown = document.querySelector('#scale strong');
      if (shown) { shown.textContent = data.shown; }
      var card = selected();
      var field = card && card.querySelector('input.grams');
      if (field) { field.value = data.grams; }
    });
  }
  document.body.addEventListener('htmx:afterSettle', function () { select(selected()); });
  select(selected());

  // --- the live list ------------------------------------------------------------------------
  var loading = false, again = false;
  function refresh() {
    if (loading) { again = true; return; }
    loading = true;
    var page = root.querySelector('input[name=page]');
    var url = root.dataset.list + '?page=' + encodeURIComponent(page ? page.value : '1');
    fetch(url, { headers: { 'HX-Request': 'true' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html) { merge(html); } })
      .catch(function () { /* the next change or the recheck tries again */ })
      .then(function () {
        loading = false;
        if (again) { again = false; refresh(); }
      });
  }
  function typed(input) { return input.value !== input.defaultValue; }
  // A card redrawn because its order changed keeps what the packer typed and not yet kept.
  function carry(old, fresh) {
    var focused = old.contains(document.activeElement) ? document.activeElement : null;
    old.querySelectorAll('input.grams, input.qty').forEach(function (input) {
      var twin = fresh.querySelector('input[name="' + input.name + '"]');
      if (twin && typed(input)) { twin.value = input.value; }
    });
    old.querySelectorAll('input.parcel').forEach(function (input) {
      var saved = document.getElementById(input.id.replace('parcel-', 'saved-'));
      var pending = input.value.trim() && (!saved || saved.value !== input.value.trim().toUpperCase());
      var bad = input.parentNode.parentNode.querySelector('.check .bad');
      if (!pending || !(input === focused || bad)) { return; }
      var same = Array.prototype.some.call(fresh.querySelectorAll('input.parcel'), function (f) {
        return f.value.trim().toUpperCase() === input.value.trim().toUpperCase();
      });
      if (same) { return; }
      var twin = fresh.querySelector('#' + input.id);
      if (!twin || twin.value) {
        twin = Array.prototype.filter.call(fresh.querySelectorAll('input.parcel'), function (f) {
          return !f.value;
        })[0];
      }
      if (!twin) { return; }
      twin.value = input.value;
      var slot = twin.closest('.parcel-slot');
      if (slot) { slot.hidden = false; }
      if (input === focused) { focused = twin; }
    });
    return focused && focused.id ? focused.id : null;
  }
  function merge(html) {
    var doc = (new DOMParser()).parseFromString(html, 'text/html');
    var fresh = doc.getElementById('cards'), mine = document.getElementById('cards');
    if (!fresh || !mine) { return; }
    ['packed-count'].forEach(function (id) {
      var a = document.getElementById(id), b = doc.getElementById(id);
      if (a && b) { a.textContent = b.textContent; }
    });
    var report = root.querySelector('button.report'), freshReport = doc.querySelector('button.report');
    if (report && freshReport) { report.disabled = freshReport.disabled; }
    var old = {};
    Array.prototype.forEach.call(mine.children, function (el) { if (el.id) { old[el.id] = el; } });
    var wanted = [], refocus = null;
    Array.prototype.forEach.call(fresh.children, function (el) {
      var have = el.id && old[el.id];
      if (have && have.classList.contains('order-card') && have.dataset.mark === el.dataset.mark) {
        wanted.push(have);  // unchanged: left exactly as the packer has it
        return;
      }
      var made = document.importNode(el, true);
      if (have && have.classList.contains('order-card')) { refocus = carry(have, made) || refocus; }
      wanted.push(made);
    });
    // Take away what goes first, so a card that stays never moves (and keeps its focus).
    Array.prototype.slice.call(mine.children).forEach(function (el) {
      if (wanted.indexOf(el) < 0) { el.remove(); }
    });
    var at = mine.firstElementChild;
    wanted.forEach(function (el) {
      if (el === at) { at = at.nextElementSibling; return; }
      var isNew = !el.parentNode;
      mine.insertBefore(el, at);
      if (isNew) { htmx.process(el); }
    });
    if (refocus) {
      var back = document.getElementById(refocus);
      if (back) { back.focus(); if (back.setSelectionRange) { back.setSelectionRange(back.value.length, back.value.length); } }
    }
    select(selected());
  }
})();
