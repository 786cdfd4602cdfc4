// The check-in form: keep the clinic's rules (and the last answers) fresh on the phone,
// so that a check-in made offline is answered there as the server would (saved.js).
fetch("/checkin/rules.json", { credentials: "same-origin" }).catch(() => {});
