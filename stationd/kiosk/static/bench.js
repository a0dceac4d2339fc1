// The bench page: a refused touch (409) still redraws the bench with its red outcome and the
// error sound; after PARTIAL the page takes the packer on to ship-out.
(function () {
  var bench = document.getElementById('bench');
  if (!bench) { return; }
  document.body.addEventListener('htmx:beforeSwap', function (e) {
    if (e.detail.xhr.status === 409 && e.detail.target === bench) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });
  function gotoSeq() {
    var link = bench.querySelector('a[data-goto]');
    return link ? link.dataset.seq : null;
  }
  var atLoad = gotoSeq();  // an old PARTIAL shown when the page was drawn: stay here
  var leaving = false;
  function follow() {
    var link = bench.querySelector('a[data-goto]');
    if (!link || leaving || link.dataset.seq === atLoad) { return; }
    leaving = true;
    // Let the done sound play before the page goes.
    setTimeout(function () { window.location.assign(link.href); }, 900);
  }
  document.body.addEventListener('htmx:afterSwap', follow);
  document.body.addEventListener('htmx:sseMessage', follow);
})();
