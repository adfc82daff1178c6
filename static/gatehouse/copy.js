// Copy buttons on the page that shows a new secret once. The page works without this script: the buttons
// stay hidden and the values can be selected by hand.
(function () {
  "use strict";
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var source = document.getElementById(button.dataset.copy);
      var text = source.textContent.trim();
      var label = button.textContent;
      function done(message) {
        button.textContent = message;
        setTimeout(function () { button.textContent = label; }, 2000);
      }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done("Copied"); }, function () { select(source); done("Press Ctrl+C"); });
      } else {
        select(source);
        done("Press Ctrl+C");
      }
    });
  });
  function select(element) {
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }
})();
