/* After a submit the server refused, move focus to the first thing to fix: the first
   invalid field (aria-invalid="true"), else the form's error summary. Screen reader and
   keyboard users land where the problem is, not at the top of the page. */
(function () {
  "use strict";
  function focusFirstError() {
    const field = document.querySelector("main [aria-invalid='true']");
    if (field) {
      field.focus();
      return;
    }
    const summary = document.querySelector("main form .alert-danger, main .alert-danger[role='alert']");
    if (summary) {
      if (!summary.hasAttribute("tabindex")) summary.setAttribute("tabindex", "-1");
      summary.focus();
    }
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", focusFirstError);
  } else {
    focusFirstError();
  }
})();
