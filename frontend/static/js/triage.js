// A check-in judged on the phone as the server does (flags/rules.py);
// doc: /checkin/rules.json (checkins/triage.py).
const RANK = { none: 0, amber: 1, red: 2 };

export function recoveryDay(doc, when = new Date()) {
  const local = new Intl.DateTimeFormat("en-CA", {
    timeZone: doc.timezone, year: "numeric", month: "2-digit", day: "2-digit",
  }).format(when);
  return (Date.parse(local) - Date.parse(doc.first_day)) / 864e5 + 1;
}

// Python's str(): True/False/None; floats "{:.1f}", an exact tie (x.25) to even.
const shown = (x, dec) =>
  x == null ? "None"
  : x === !!x ? (x ? "True" : "False")
  : dec ? (Math.abs(x % 1) === 0.25 ? x - Math.sign(x) / 100 : x).toFixed(1)
  : String(x);

// str.format_map knowing only {value} and {previous}
const fill = (t, value, previous) =>
  t.replace(/\{\{|\}\}|\{(\w*)\}/g, (m, k) =>
    m === "{{" ? "{" : m === "}}" ? "}" : k === "value" ? value : k === "previous" ? previous : m);

function fires(rule, answers, day, prev) {
  const w = rule.when;
  if (w.kind === "silence" || w.field == null) return;
  const value = answers[w.field];
  if (w.kind === "choice") return (w.in || []).includes(value) && { rule, value };
  if (value == null) return;
  if (w.kind === "trend") {
    const before = prev && day >= (w.from_day || 1) ? prev[w.field] : null;
    return before != null && value - before >= (w.rise_of_at_least || 0) && { rule, value, before };
  }
  if (w.at_least != null && value < w.at_least) return;
  if (w.below != null && value >= w.below) return;
  return { rule, value };
}

// -> {severity, reasons: [{code, message}], advice, calls: ["clinic"|"emergency"]}
export function judge(doc, answers, day, previous) {
  const fired = doc.rules.map((r) => fires(r, answers, day, previous)).filter(Boolean);
  fired.sort((a, b) => RANK[b.rule.severity] - RANK[a.rule.severity]);
  const severity = fired[0]?.rule.severity || "none";
  // Advice sending to the emergency number first comes first (rules.py, _worst_advice).
  const worst = fired.map((e) => e.rule).filter((r) => r.severity === severity)
    .sort((a, b) => (b.calls[0] === "emergency") - (a.calls[0] === "emergency"));
  const reasons = fired.map(({ rule, value, before }) => {
    const dec = doc.decimal_fields.includes(rule.when.field);
    return { code: rule.code, message: fill(rule.message, shown(value, dec), shown(before, dec)) };
  });
  const calls = worst.flatMap((r) => r.calls);
  if (severity === "red") calls.push("clinic", "emergency");
  return {
    severity, reasons, calls: [...new Set(calls)],
    advice: fired.length ? [...new Set(worst.map((r) => r.advice))].join("\n\n") : doc.reassurance,
  };
}
