// Quick exit: leave for a neutral site, replacing this page so that Back does not
// return to the app (which keeps a single history entry, see nav.js). On a
// keyboard, Esc pressed twice does the same.
const link = document.getElementById("quick-exit");
const leave = () => window.location.replace(link.href);
if (link) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    leave();
  });
  let lastEscape = 0;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    if (event.timeStamp - lastEscape < 2000) leave();
    lastEscape = event.timeStamp;
  });
}
