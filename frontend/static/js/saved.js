// The answer to a check-in kept on the phone while offline: judged here by the clinic's
// rules (triage.js, the same as the server's), with its advice and call buttons.
import { judge, recoveryDay } from "/static/js/triage.js";

const box = document.getElementById("offline-answer");
const NUMBER = /\+?\d(?:[\d\s().-]*\d)?/g;

function answersOf(body) {
  const form = new URLSearchParams(body);
  const temperature = form.get("temperature_c");
  return {
    pain: Number(form.get("pain")),
    temperature_c: temperature ? Number(temperature) : null,
    bleeding: form.get("bleeding"), discharge: form.get("discharge"),
    urination: form.get("urination"), allergy: form.get("allergy"),
    nausea: form.get("nausea") === "true", wants_contact: form.get("wants_contact") === "true",
    recorded_at: form.get("recorded_at"),
  };
}

// Numbers read left to right inside right-to-left text (like the server's numbers_ltr).
function paragraph(text) {
  const p = document.createElement("p");
  let last = 0;
  for (const match of text.matchAll(NUMBER)) {
    const bdi = document.createElement("bdi");
    bdi.dir = "ltr";
    bdi.textContent = match[0];
    p.append(text.slice(last, match.index), bdi);
    last = match.index + match[0].length;
  }
  p.append(text.slice(last));
  return p;
}

async function show() {
  const id = new URLSearchParams(location.search).get("checkin");
  if (!box || !id || !self.outbox) return;
  const queued = (await self.outbox.waiting()).filter((entry) => entry.store === "checkins");
  const at = queued.findIndex((entry) => entry.id === id);
  if (at < 0) return;
  const doc = await (await fetch("/checkin/rules.json", { credentials: "same-origin" })).json();
  const answers = answersOf(queued[at].body);
  const previous = at > 0 ? answersOf(queued[at - 1].body) : doc.previous;
  const result = judge(doc, answers, recoveryDay(doc, new Date(answers.recorded_at)), previous);
  box.classList.add(`answer-${result.severity}`);
  box.querySelector(`[data-severity="${result.severity}"]`).hidden = false;
  box.querySelector(".advice").replaceChildren(...result.advice.split("\n\n").map(paragraph));
  const calls = box.querySelector(".calls");
  if (calls) {
    const links = [...calls.querySelectorAll("[data-call]")];
    for (const link of links) link.hidden = !result.calls.includes(link.dataset.call);
    calls.replaceChildren(...result.calls.flatMap((call) => links.filter((l) => l.dataset.call === call)),
      ...links.filter((l) => l.hidden));
    calls.hidden = result.calls.length === 0;
  }
  box.querySelector(".contact").hidden = !answers.wants_contact;
  box.querySelector(".reasons").replaceChildren(...result.reasons.map((reason) => {
    const item = document.createElement("li");
    item.textContent = reason.message;
    return item;
  }));
  box.hidden = false;
}

show().catch(() => { /* no rules on this phone yet: the page still says whom to call */ });
