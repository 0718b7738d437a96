// The workspace's only script, an enhancement: the pages work without it. It keeps the deadline
// countdowns ("in 12 min", "late 5 min") current between page loads, in the words the server used.
// Domain time may run faster than the wall clock (the demo): the page says how much (data-rate).
(function () {
  "use strict";
  var table = document.body;
  if (!table.hasAttribute("data-now")) { return; }
  var words = JSON.parse(table.getAttribute("data-words"));
  var serverNow = Date.parse(table.getAttribute("data-now"));
  var rate = parseFloat(table.getAttribute("data-rate") || "1");
  var loaded = Date.now();

  function duration(seconds) {
    var minutes = Math.max(Math.floor(seconds / 60), 0);
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) { return days + " " + words.d + (hours ? " " + hours + " " + words.h : ""); }
    if (hours) { return hours + " " + words.h + (mins ? " " + mins + " " + words.min : ""); }
    return mins + " " + words.min;
  }

  function refresh() {
    var now = serverNow + (Date.now() - loaded) * rate;
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      var left = (Date.parse(el.getAttribute("datetime")) - now) / 1000;
      if (left >= 0) {
        el.textContent = words["in"].replace("{time}", duration(left));
        el.classList.remove("late");
      } else {
        el.textContent = words.late.replace("{time}", duration(Math.ceil(-left / 60) * 60));
        el.classList.add("late");
      }
    });
  }

  if (rate > 0) { window.setInterval(refresh, 15000); }
})();
