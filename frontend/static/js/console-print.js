// The "Print" button of the enrolment code page: shown only when scripts run.
const button = document.querySelector("[data-print]");
if (button) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
