// One live stream per page (issue 10 item 4). Each stream holds a server thread, so a page opens
// one: its own `sse-connect` (htmx's SSE extension), which also carries the navigation's operator
// chip when the URL says which operator the page shows (`op=`). A page with no stream of its own
// opens the chip's (`#operator-box[data-stream]`). Scripts listen with window.kioskStream(name, fn)
// instead of opening an EventSource of their own. A stream refused because too many pages are
// open (503) is tried again by the extension, later and later.
(function () {
  var listeners = [];
  var open = htmx.createEventSource;

  function withOperator(url) {
    var box = document.getElementById('operator-box');
    if (!box || /[?&]op=/.test(url)) { return url; }
    return url + (url.indexOf('?') < 0 ? '?' : '&') + 'op=' + encodeURIComponent(box.dataset.op || '0');
  }

  htmx.createEventSource = function (url) {
    var source = open(withOperator(url));
    listeners.forEach(function (l) { source.addEventListener(l[0], l[1]); });
    window.kioskStreamSource = source;
    return source;
  };

  window.kioskStream = function (name, fn) {
    listeners.push([name, fn]);
    if (window.kioskStreamSource) { window.kioskStreamSource.addEventListener(name, fn); }
  };

  window.kioskStream('operator', function (e) {
    var box = document.getElementById('operator-box');
    if (!box) { return; }
    box.innerHTML = e.data;
    htmx.process(box);
  });

  document.addEventListener('DOMContentLoaded', function () {
    var box = document.getElementById('operator-box');
    if (!box || !box.dataset.stream || document.querySelector('[sse-connect]')) { return; }
    box.setAttribute('hx-ext', 'sse');
    box.setAttribute('sse-connect', box.dataset.stream);
    htmx.process(box);
  });
})();
