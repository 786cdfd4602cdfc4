// Quick exit: leave for a neutral site without leaving this app in the back history.
const link = document.getElementById("quick-exit");
if (link) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    window.location.replace(link.href);
  });
}
