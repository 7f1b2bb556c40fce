// Sort the results table by a column: each heading is a button (mouse and keyboard alike).
(function () {
  var table = document.getElementById("results");
  if (!table) return;
  var body = table.tBodies[0];
  var heads = table.tHead.querySelectorAll("th[aria-sort]");
  function value(row, key, numeric) {
    var v = row.getAttribute("data-" + key);
    if (!numeric) return v || "";
    var n = parseFloat(v);
    return isNaN(n) ? null : n;  // rows without a number (errors) sort last either way
  }
  heads.forEach(function (th) {
    var button = th.querySelector("button");
    button.addEventListener("click", function () {
      var key = button.getAttribute("data-key");
      var numeric = button.getAttribute("data-type") === "number";
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = value(a, key, numeric), y = value(b, key, numeric);
        if (x === null || y === null) return (x === null) - (y === null);
        var c = numeric ? x - y : x.localeCompare(y);
        return c * dir || (value(a, "index", true) - value(b, "index", true));
      });
      rows.forEach(function (r) { body.appendChild(r); });
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", dir === 1 ? "ascending" : "descending");
    });
  });
})();
