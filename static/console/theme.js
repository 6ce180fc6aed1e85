/* Loaded synchronously in <head>: apply the saved theme before the first paint. */
(function () {
  "use strict";
  var saved = null;
  try { saved = window.localStorage.getItem("gempool-theme"); } catch (e) { /* storage disabled */ }
  var dark = saved ? saved === "dark" : window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
  document.documentElement.setAttribute("data-theme", dark ? "dark" : "light");
})();
