// Sign out a console left alone, so an unattended screen stops showing patients'
// records. The server ends the session after the same time in any case.
const minutes = Number(document.body.dataset.idleMinutes || 0);
const form = document.getElementById("sign-out");
if (minutes > 0 && form) {
  let timer;
  const restart = () => {
    clearTimeout(timer);
    timer = setTimeout(() => form.submit(), minutes * 60 * 1000);
  };
  for (const name of ["pointerdown", "keydown", "scroll", "touchstart"]) {
    window.addEventListener(name, restart, { passive: true });
  }
  restart();
}
