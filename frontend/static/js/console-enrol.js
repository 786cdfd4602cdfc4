// Enrol form: choosing a procedure fills in its usual waking and sleeping hours,
// unless the nurse has already typed the patient's own.
const procedure = document.getElementById("protocol");
const wake = document.getElementById("wake_time");
const sleep = document.getElementById("sleep_time");

if (procedure && wake && sleep) {
  const typed = new Set();
  wake.addEventListener("input", () => typed.add(wake));
  sleep.addEventListener("input", () => typed.add(sleep));
  procedure.addEventListener("change", () => {
    const chosen = procedure.selectedOptions[0];
    if (!chosen) return;
    if (!typed.has(wake) && chosen.dataset.wake) wake.value = chosen.dataset.wake;
    if (!typed.has(sleep) && chosen.dataset.sleep) sleep.value = chosen.dataset.sleep;
  });
}
